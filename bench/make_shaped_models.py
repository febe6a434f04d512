#!/usr/bin/env python3
"""Random-weight bf16 checkpoints with the shapes the GPU benchmarks use
(speed does not depend on the values), saved by HF transformers as
config.json + model.safetensors, with a small byte-level BPE tokenizer.json
(tests/golden/tiny/qwen2's; it needs only to load, prompts are token ids):

  smollm2-shape   LlamaConfig as SmolLM2-135M: 576 hidden, 30 layers,
                  9 heads / 3 KV, 1536 FFN, 49152 vocabulary, tied
  qwen05-shape    Qwen2Config as Qwen2.5-0.5B: 896 hidden, 24 layers,
                  14 heads / 2 KV, 4864 FFN, 151936 vocabulary, tied, QKV bias
  wide-f16        two small layers (512 hidden, 8 heads / 2 KV, 1408 FFN) in
  wide-f32        fp16 and f32, for test_cuda_e2e's checks of the persistent
                  decode step: f32 rows of 512 and fp16 down rows take
                  several of its weight batches; wide-f32's vocabulary is
                  odd (1,023), so that its LM head has a row left over
                  from its row pairs
  wide-hd128      wide-f16's layers with 4 heads / 1 KV of 128 dimensions,
                  in bf16: the widest heads the persistent step takes

Each model is written to NAME.tmp and renamed when complete, so that an
interrupted run leaves no directory that looks finished.

    python3 bench/make_shaped_models.py OUT_DIR
"""
import os
import shutil
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch  # noqa: E402
from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TOKENIZER = os.path.join(HERE, "..", "tests", "golden", "tiny", "qwen2", "tokenizer.json")

WIDE = dict(vocab_size=1024, hidden_size=512, intermediate_size=1408, num_hidden_layers=2, num_attention_heads=8,
            num_key_value_heads=2, max_position_embeddings=4096, rope_theta=10000.0, tie_word_embeddings=False,
            initializer_range=0.1)
SHAPES = {
    "smollm2-shape": LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                                 num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192,
                                 rope_theta=100000.0, tie_word_embeddings=True, rms_norm_eps=1e-5),
    "qwen05-shape": Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                                num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                                rope_theta=1000000.0, tie_word_embeddings=True, rms_norm_eps=1e-6),
    "wide-f16": LlamaConfig(**WIDE),
    "wide-f32": Qwen2Config(**dict(WIDE, vocab_size=1023)),  # odd: the LM head's last row alone
    "wide-hd128": LlamaConfig(**dict(WIDE, num_attention_heads=4, num_key_value_heads=1)),
}
DTYPES = {"wide-f16": torch.float16, "wide-f32": torch.float32}


def main() -> int:
    out = sys.argv[1] if len(sys.argv) > 1 else "shaped"
    for i, (name, cfg) in enumerate(SHAPES.items()):
        torch.manual_seed(i)  # each model's weights the same whichever others are made
        d = os.path.join(out, name)
        if os.path.exists(os.path.join(d, "model.safetensors")):
            print(f"{name}: already in {d}", file=sys.stderr)
            continue
        tmp = d + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        dtype = DTYPES.get(name, torch.bfloat16)
        cfg.torch_dtype = dtype
        with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
            model = AutoModelForCausalLM.from_config(cfg, torch_dtype=dtype)
        model.save_pretrained(tmp, safe_serialization=True)
        shutil.copy(TOKENIZER, os.path.join(tmp, "tokenizer.json"))
        shutil.rmtree(d, ignore_errors=True)
        os.rename(tmp, d)
        n = sum(p.numel() for p in model.parameters())
        print(f"{name}: {n / 1e6:.1f} M parameters -> {d}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
