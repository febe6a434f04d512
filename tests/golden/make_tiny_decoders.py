#!/usr/bin/env python3
"""Tiny random-weight Hugging Face decoders, and HF transformers' logits on
them, to test hrt's safetensors path for each architecture in its table:

  tiny/llama  LlamaConfig, llama3 RoPE scaling, untied lm_head, float32
  tiny/qwen2  Qwen2Config (Q/K/V biases), linear RoPE scaling, tied, bfloat16
  tiny/qwen3  Qwen3Config (Q/K RMSNorm, head_dim 32 != hidden/heads), tied, float16

Weights are random (seeded) with a large initializer range, so that the
logits are peaked and greedy decoding has no near-ties. Each directory gets
config.json, model.safetensors and a byte-level BPE tokenizer.json trained
here with `tokenizers` (vocabulary 384, ChatML special tokens). The
reference runs in float32 on the stored (16-bit where so) weights.

Output: tests/golden/tiny/<arch>/ and tests/golden/tiny_decoders.json with,
per model and prompt, the token ids, the top-20 logits after the prompt and
after each of the first 4 greedy tokens, and 16 greedy tokens.

    python3 tests/golden/make_tiny_decoders.py
"""
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch  # noqa: E402
import transformers  # noqa: E402
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402
from transformers import (AutoModelForCausalLM, LlamaConfig, PreTrainedTokenizerFast,  # noqa: E402
                          Qwen2Config, Qwen3Config)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "tiny")
VOCAB = 384
TRAIN = [
    "The quick brown fox jumps over the lazy dog. " * 3,
    "Once upon a time there was a little robot who wanted to learn how to paint.",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))\n",
    "In 1969, 600 million people watched the first landing on the Moon.",
    "Question: what is the capital of France? Answer: Paris is the capital of France.",
]
PROMPTS = [
    "The quick brown fox",
    "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
    "def add(a, b):\n    return",
]
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
          "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")

COMMON = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
              initializer_range=0.35, rms_norm_eps=1e-6, bos_token_id=None, eos_token_id=2)
CONFIGS = {
    "llama": (LlamaConfig(**COMMON, tie_word_embeddings=False, rope_theta=50000.0,
                          rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                        "high_freq_factor": 4.0, "original_max_position_embeddings": 32}),
              torch.float32),
    "qwen2": (Qwen2Config(**COMMON, tie_word_embeddings=True, rope_theta=10000.0,
                          rope_scaling={"rope_type": "linear", "factor": 2.0}), torch.bfloat16),
    "qwen3": (Qwen3Config(**COMMON, head_dim=32, tie_word_embeddings=True, rope_theta=1000000.0),
              torch.float16),
}


def make_tokenizer() -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    tok.train_from_iterator(TRAIN, trainer)
    assert tok.get_vocab_size() == VOCAB, tok.get_vocab_size()
    return tok


def top20(logits: torch.Tensor) -> list:
    vals, idx = torch.sort(logits, descending=True, stable=True)
    return [[int(i), float(f"{float(v):.7g}")] for i, v in zip(idx[:20], vals[:20])]


def main() -> int:
    tok = make_tokenizer()
    golden = {"generator": "tests/golden/make_tiny_decoders.py (HF transformers, float32, CPU)",
              "transformers_version": transformers.__version__, "models": []}
    for i, (arch, (cfg, dtype)) in enumerate(CONFIGS.items()):
        torch.manual_seed(1234 + i)
        d = os.path.join(OUT, arch)
        os.makedirs(d, exist_ok=True)
        model = AutoModelForCausalLM.from_config(cfg).to(dtype)
        model.save_pretrained(d, safe_serialization=True)
        fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>")
        fast.chat_template = CHATML
        fast.save_pretrained(d)
        for extra in ("generation_config.json", "special_tokens_map.json"):
            if os.path.exists(os.path.join(d, extra)):
                os.remove(os.path.join(d, extra))
        ref = AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32).eval()
        entry = {"dir": f"tiny/{arch}", "dtype": str(dtype).replace("torch.", ""), "prompts": []}
        with torch.no_grad():
            for text in PROMPTS:
                ids = tok.encode(text).ids
                res = ref(torch.tensor([ids]), use_cache=True)
                past, logits = res.past_key_values, res.logits[0, -1]
                e = {"text": text, "tokens": ids, "top20": top20(logits), "greedy": [], "steps_top20": []}
                for k in range(16):
                    t = int(torch.argmax(logits))
                    e["greedy"].append(t)
                    res = ref(torch.tensor([[t]]), past_key_values=past, use_cache=True)
                    past, logits = res.past_key_values, res.logits[0, -1]
                    if k < 4:
                        e["steps_top20"].append(top20(logits))
                entry["prompts"].append(e)
        golden["models"].append(entry)
        print(f"{arch}: {sum(p.numel() for p in model.parameters())} parameters, {dtype}", file=sys.stderr)
    with open(os.path.join(HERE, "tiny_decoders.json"), "w") as f:
        json.dump(golden, f, separators=(",", ":"))
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
