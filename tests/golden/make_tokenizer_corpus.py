#!/usr/bin/env python3
"""Writes tests/golden/tokenizer_corpus.hex: the strings the tokenizer golden
test encodes, one per line as lowercase hex of the raw bytes (so that invalid
UTF-8, NUL and newlines survive). Deterministic: hand-written cases, then
seeded random mixes (random.Random(SEED), whose algorithm Python keeps
stable across versions).

    python3 tests/golden/make_tokenizer_corpus.py
"""
import random
import sys
import unicodedata
from pathlib import Path

SEED = 20240601
N_RANDOM = 1900

HERE = Path(__file__).resolve().parent

# ---- hand-written cases -----------------------------------------------------

PROSE = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello, world!",
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness.",
    "Call me Ishmael. Some years ago - never mind how long precisely - having little or no money in my purse, and nothing particular to interest me on shore, I thought I would sail about a little and see the watery part of the world.",
    "In the beginning God created the heaven and the earth.",
    "To be, or not to be, that is the question:",
    "Whether 'tis nobler in the mind to suffer the slings and arrows of outrageous fortune...",
    "All happy families are alike; each unhappy family is unhappy in its own way.",
    "The tokenizer splits text into words, then merges bytes by rank.",
    "Transformers process sequences of tokens in parallel using self-attention.",
    "She sells sea shells by the sea shore.",
    "A man, a plan, a canal: Panama.",
    "What's the weather like in San Francisco today?",
    "Please summarise the following document in three bullet points.",
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face",
    "The mitochondria is the powerhouse of the cell.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "The Eiffel Tower was completed in 1889 and is 330 metres tall.",
    "On 20 July 1969, Apollo 11 landed on the Moon.",
    "Mr. and Mrs. Dursley, of number four, Privet Drive, were proud to say that they were perfectly normal, thank you very much.",
    "e.g. i.e. etc. vs. Dr. St. U.S.A. U.K. Ph.D.",
    "UPPERCASE WORDS SHOUT; lowercase words whisper; MiXeD cAsE confuses.",
    "CamelCaseIdentifiers and snake_case_identifiers and kebab-case-identifiers",
    "HTTPServerError XMLHttpRequest iPhone eBay macOS",
    "The year 2023 had 365 days; 2024 had 366.",
    "Temperature: -40°C equals -40°F.",
    "Price: $1,234.56 (was €999,99 or £850).",
    "Call +1 (555) 123-4567 or email john.doe@example.com.",
    "Visit https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct for details.",
    "Version 3.11.7 fixed bug #12345 reported on 2023-12-04T10:15:30Z.",
    "He said, \"I don't know,\" and left.",
    "'Single quotes' and \"double quotes\" and `backticks`.",
    "Well... I guess so?! Maybe!!! Or not???",
    "First line\nSecond line\nThird line",
    "Paragraph one.\n\nParagraph two.\n\n\nParagraph three.",
    "Tabs\tseparate\tcolumns\tin\tTSV",
    "Windows line endings\r\nare CR LF\r\n",
    "Old Mac line endings\rare CR only\r",
    "trailing spaces   ",
    "   leading spaces",
    "  both  ",
    "multiple   internal    spaces",
    "The ratio is 3:2, or 1.5x.",
    "Section 4.2.1 (see Fig. 3b) shows the results.",
    "I think, therefore I am.",
    "Q: What is 2+2?\nA: 4.",
    "- item one\n- item two\n  - nested item\n* star item\n1. numbered",
    "# Heading\n\nSome **bold** and _italic_ text with a [link](http://x.y).",
    "> quoted text\n> continues here",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.",
    "Neural networks learn representations; gradient descent minimises a loss.",
    "The patient's blood pressure was 120/80 mmHg.",
    "RAM: 16GB, SSD: 512GB, CPU: 3.2GHz 8-core.",
    "The meeting is at 3pm on Tuesday, March 5th.",
    "Don't count your chickens before they hatch.",
    "Beware the Jabberwock, my son! The jaws that bite, the claws that catch!",
    "Twas brillig, and the slithy toves did gyre and gimble in the wabe.",
    "I'd've thought you'd know that they're not coming.",
    "We'll see; you'll see; they'll see.",
    "It's its own thing; it's not it's.",
]

CODE = [
    "#include <stdio.h>\n\nint main(void)\n{\n    printf(\"Hello, world!\\n\");\n    return 0;\n}\n",
    "static int add(int a, int b) { return a + b; }",
    "for (size_t i = 0; i < n; i++) {\n\tsum += x[i] * y[i];\n}",
    "#define MAX(a, b) ((a) > (b) ? (a) : (b))",
    "if (p == NULL || *p == '\\0') return -1;",
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "import numpy as np\nx = np.arange(10).reshape(2, 5)\nprint(x.T @ x)",
    "class Foo(Bar):\n    \"\"\"Docstring.\"\"\"\n\n    def __init__(self, *args, **kwargs):\n        super().__init__(*args, **kwargs)\n",
    "lambda x: x**2 if x > 0 else -x",
    "result = [f(x) for x in range(100) if x % 3 == 0]",
    "with open('data.txt', 'r', encoding='utf-8') as fh:\n\tlines = fh.readlines()",
    "function greet(name) {\n  return `Hello, ${name}!`;\n}\n",
    "const xs = arr.map((x) => x * 2).filter(Boolean);",
    "console.log(JSON.stringify({a: 1, b: [2, 3]}, null, 2));",
    "fn main() {\n    let v: Vec<u32> = (0..10).collect();\n    println!(\"{:?}\", v);\n}\n",
    "impl<'a, T: Clone + 'a> Iterator for Iter<'a, T> { type Item = &'a T; }",
    "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"hi\")\n}\n",
    "SELECT id, name FROM users WHERE age >= 18 AND name LIKE 'A%' ORDER BY id DESC;",
    "<!DOCTYPE html>\n<html>\n<head><title>Test</title></head>\n<body><p class=\"x\">Hi &amp; bye</p></body>\n</html>",
    "<div id=\"main\" style=\"color: red;\">&lt;tag&gt;</div>",
    "#!/bin/bash\nset -euo pipefail\nfor f in *.txt; do\n  echo \"$f\" | tr 'a-z' 'A-Z'\ndone\n",
    "grep -rn 'TODO' src/ | awk -F: '{print $1}' | sort | uniq -c",
    "{\"name\": \"hrt\", \"version\": \"0.1.0\", \"deps\": [\"cjson\"], \"ok\": true, \"n\": null}",
    "key: value\nlist:\n  - a\n  - b\nnested:\n  deep: 42\n",
    "all: build\n\nbuild:\n\t$(CC) $(CFLAGS) -o $@ $^\n",
    "\\begin{equation}\n  E = mc^2 \\quad \\int_0^\\infty e^{-x^2} dx = \\frac{\\sqrt{\\pi}}{2}\n\\end{equation}",
    "x+=1;y-=2;z*=3;w/=4;a%=5;b<<=1;c>>=2;d&=e|f^g;",
    "a == b && c != d || !e",
    "ptr->next->prev = ptr; arr[i][j] = *(*(m + i) + j);",
    "std::vector<std::string> v{\"a\", \"b\"}; std::cout << v.size() << std::endl;",
    "template <typename T> auto max(T a, T b) -> decltype(a > b ? a : b);",
    "public static void main(String[] args) throws IOException {",
    "@Override\npublic String toString() { return \"Foo\"; }",
    "$ curl -s -X POST -H 'Content-Type: application/json' -d '{\"q\":1}' http://localhost:8080/api",
    "0x7fffffff 0xDEADBEEF 0b1010 0o755 1_000_000 3.14e-10 1E+5",
    "// single-line comment\n/* block\n   comment */",
    "    indented with four spaces\n        eight spaces\n\t\ttwo tabs",
    "if x:\n\tpass\nelse:\n\t\tpass\n",
    "print('trailing newline')\n\n\n",
    "    ",
    "\t",
    "\n",
    "\r\n",
    "end of file with no newline;",
    "regex = r'^(?P<name>[A-Za-z_]\\w*)\\s*=\\s*(\\d+)$'",
    "ASSERT_EQ(foo(\"bar\"), 42) << \"message\";",
    "mov eax, [ebp+8]\nadd eax, 1\nret",
    "(defun square (x) (* x x))",
    "main = putStrLn \"Hello\" >> return ()",
    "SELECT COUNT(*) AS n\nFROM t\nGROUP BY k\nHAVING n > 1;",
]

SPECIAL = [
    "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n",
    "<|endoftext|>",
    "text<|endoftext|>more text",
    "<|im_start|><|im_end|>",
    "<|im_start|> <|im_end|>",
    "<|im_start|>\n\n<|im_end|>",
    " <|im_start|>",
    "<|im_start|> ",
    "<|im_start",
    "<|im_start|",
    "im_start|>",
    "<<|im_end|>>",
    "<|im_end|><|im_end|><|im_end|>",
    "<|IM_START|>",
    "<repo_name>hrt<file_sep>main.c<filename>x.py<gh_stars>100",
    "<reponame>a<repo_name>b",
    "<issue_start>bug<issue_comment>fixed<issue_closed>",
    "<jupyter_start><jupyter_text>md<jupyter_code>x=1<jupyter_output>1<jupyter_script><empty_output>",
    "[CLS] hello [SEP]",
    "[CLS][SEP][PAD][MASK][UNK]",
    "The answer is [MASK].",
    "[cls] lowercase is not special",
    "[ CLS ]",
    "a[SEP]b",
    "hello<|im_end|>world",
    "1<|endoftext|>2",
    "  <|im_start|>  ",
    "<|im_start|>\t<|im_end|>",
    "<s></s><unk><pad>",
    "<|begin_of_text|><|eot_id|>",
]

WHITESPACE_UNITS = [" ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r\n", "\r", " \n", "\n ",
                    "\u00a0", "\u3000", "\u2028", "\u2029", "\u0085", "\x0b", "\x0c",
                    "\u2003", "\u200a", "\u202f", "\u205f", "\u1680", " \t ", "\n\t", "\r\n\r\n"]


def whitespace_cases():
    out = []
    for ws in WHITESPACE_UNITS:
        out += [ws, "a" + ws, ws + "a", "a" + ws + "b", "1" + ws + "2", "!" + ws + "?",
                ws + "<|im_end|>", "word" + ws + ws + "word", ws + "'s"]
    return out


NUMBERS = [
    "0", "7", "12", "123", "1234", "12345", "123456", "1234567890", "00000", "0.5", "3.14159",
    "1,000,000", "-42", "+42", "1e10", "6.022e23", "0x1F", "2024-01-15", "12:30:45", "v1.2.3",
    "1st 2nd 3rd 4th", "100%", "50/50", "3/4", "1.5x", "#1", "No.5", "2^10=1024", "(555)123-4567",
    "abc123def", "a1b2c3", "R2D2 C3PO", "x86_64", "ipv4 192.168.0.1", "ipv6 ::1 fe80::1",
    "٠١٢٣٤٥٦٧٨٩", "٣٤٥", "۱۲۳", "०१२३४५६७८९", "१२३", "০১২", "๐๑๒", "１２３４５", "Ⅻ Ⅳ ⅻ",
    "½ ¼ ¾ ⅓", "x² + y³ = z⁴", "H₂O CO₂", "① ② ③", "𝟎𝟏𝟐", "一二三 四五六", "〇", "十万",
    "99 bottles of beer", "π ≈ 3.14159265358979323846", "1 000 000", "1\u00a0000",
    "3.0 - 2.5 = 0.5", "pi=3.1415926535897932384626433832795028841971693993751058209749445923",
    "".join(str(i % 10) for i in range(500)),
]

PUNCT = [
    "!!!", "...", "?!?!", "---", "***", "(([[{{}}]]))", "'''", '"""', "``", "~~~", "@#$%^&*",
    "«quoted»", "“curly” ‘single’", "em—dash en–dash", "ellipsis…", "¿Qué? ¡Sí!", "§ ¶ † ‡",
    "a.b.c", "a,b,c", "a;b;c", "a:b:c", "a!b?c", "a/b\\c", "a|b|c", "a_b_c", "a-b-c", "a+b=c",
    "<<>>", "<=>", "=>", "->", "<-", "::", "...", "..", "!=", "==", "===", "!==", "&&", "||",
    "$$$", "%%%", "^^^", "###", "___", "///", "\\\\\\", ":-)", ";-)", ":(", "<3", "¯\\_(ツ)_/¯",
    "。、！？「」『』（）【】", "،؛؟", "।॥", "·•◦", "©®™", "°±×÷", "€£¥₹₽₩", "∀∃∈∉∑∏√∞≠≤≥",
    "→←↑↓↔", "♠♣♥♦", "★☆", "✓✗", "❤", "⌘⌥⇧", "■□▲△", "─│┌┐└┘", "½", "‰", "※",
]

CONTRACTIONS = [
    "don't", "I'm", "you're", "we've", "she'll", "he'd", "it's", "IT'S", "DON'T", "I'M", "YOU'RE",
    "WE'VE", "SHE'LL", "HE'D", "'S", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'D", "'LL",
    "'Re", "'rE", "'Ve", "''s", "'''s", "rock'n'roll", "ma'am", "y'all", "o'clock", "'tis",
    "'twas", "won't can't shouldn't", "John's book", "JOHN'S BOOK", "the '90s", "'ſ", "'ſt",
    "'\u212a", "' s", "'", "'x", "'sa", "'ss", "'rea", "'lll", "'em", "''", "I 'm", "you ' re",
    "l'amour", "aujourd'hui", "qu'il", "dell'anno", "O'Brien", "d'Artagnan",
    "it’s (curly apostrophe)", "don`t",
]

UNICODE = [
    "中文分词测试：我们今天去北京天安门。",
    "机器学习是人工智能的一个分支。",
    "日本語のテキストです。カタカナとひらがなと漢字。",
    "東京タワーは333メートルです。",
    "ｶﾀｶﾅ ﾊﾝｶｸ",
    "한국어 문장입니다. 안녕하세요!",
    "대한민국의 수도는 서울입니다.",
    "ᄀᄁᄂ ᅡᅢ ᆨᆩ",
    "مرحبا بالعالم! هذا نص عربي.",
    "اللغة العربية جميلة",
    "שלום עולם",
    "नमस्ते दुनिया। यह हिंदी पाठ है।",
    "क़ ख़ ग़ ज़ ड़ ढ़ फ़ य़",
    "ภาษาไทยไม่มีช่องว่างระหว่างคำ",
    "Ελληνικά: Γειά σου Κόσμε! ΟΔΥΣΣΕΥΣ",
    "Русский язык: Привет, мир! ЁЖ ёж",
    "Українська: Ґґ Єє Її",
    "Հայերեն",
    "ქართული ენა ᲥᲐᲠᲗᲣᲚᲘ",
    "தமிழ் மொழி",
    "বাংলা ভাষা",
    "አማርኛ",
    "ᏣᎳᎩ ꭰꭱꭲ",
    "𐐀𐐁𐐨𐐩 Deseret",
    "𝐀𝐁𝐂 𝑎𝑏𝑐 𝔄𝔅ℭ 𝕏",
    "Ｈｅｌｌｏ　Ｗｏｒｌｄ！ ＡＢＣ ａｂｃ",
    "ﬁ ﬂ ﬀ ﬃ",
    "İstanbul ıi İI",
    "straße STRASSE ẞ",
    "Kelvin K Ångström Å",
    "café", "cafe\u0301", "Ångström", "A\u030angstro\u0308m", "naïve", "nai\u0308ve",
    "résumé", "re\u0301sume\u0301", "Tiếng Việt có dấu", "Zürich Köln Österreich",
    "Ñandú", "N\u0303andu\u0301", "Ǆ ǅ ǆ", "ǰ", "ŉ", "Ǒǒ", "ḱṓṩ",
    "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034dA\u036b\u0357\u0334\u0362\u0335\u031c\u0330\u0354L\u0368\u0367\u0369\u0358\u0320G\u0311\u0357\u030e\u0305\u035b\u0341\u0334\u033b\u0348\u034d\u0354\u0339O\u0342\u030c\u030c\u0358\u0328\u0335\u0339\u033b\u031d\u0333",
    "e\u0301\u0302\u0303\u0304", "\u0301 leading mark", "a\u20dd", "1\ufe0f\u20e3",
    "😀", "😀😃😄", "I ❤️ NY", "👍🏽 👋🏿", "👨‍👩‍👧‍👦", "👩‍💻", "🏳️‍🌈", "🇺🇸🇯🇵🇩🇪", "🇺", "🏴󠁧󠁢󠁥󠁮󠁧󠁿",
    "🤖🧠🚀", "🫠🫡", "✈️", "☺", "#️⃣", "emoji in text 😂 are fun 🎉!", "🙂‍↔️",
    "\u200b", "zero\u200bwidth\u200bspace", "zwnj\u200cjoin\u200d", "word\u2060joiner", "\ufeffBOM",
    "soft\u00adhyphen", "rtl\u200fmark\u200eltr", "\u202eoverride\u202c", "\u2066isolate\u2069",
    "\u00a0nbsp\u00a0", "\u3000ideographic\u3000space", "line\u2028separator", "para\u2029separator",
    "\x00", "a\x00b", "\x01\x02\x03\x04\x05\x06\x07\x08", "\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17",
    "\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f", "\x7f", "del\x7fete", "\u0080\u0081\u009f", "esc\x1b[31mred\x1b[0m",
    "\ufffd", "replacement \ufffd char", "\ue000 private use \uf8ff", "\U000f0000", "\U0010fffd",
    "noncharacter \ufdd0 \ufffe \uffff", "\U0001fffe", "unassigned \u0378 \u0888",
    "豈 更 車", "𠀀𠀁 ext B", "𪜀 𫝀 𫠠 𬺰", "⺀ ⼀ radicals", "ㄅㄆㄇ bopomofo", "〆〇〻",
    "ꙮ", "ᚠᚢᚦ runes", "𓀀 hieroglyph", "𒀀 cuneiform", "ⓐⓑⓒ", "🄰🄱", "ℌℍℎ", "№ ℡ ™",
    "Ⅰ Ⅱ Ⅲ ⅰ ⅱ", "ǅungla", "ΐ ΰ ᾳ ῳ ᾼ", "ᾈ ᾉ", "Ꭰ", "Ᏸ ᏸ", "Ա ա", "Ⴀ ⴀ", "Ა ა",
    "ⰀⰁ ⰰⰱ glagolitic", "𞤀𞤁 𞤢 adlam", "𖹀 𖹠 medefaidrin", "𑢠 𑣀 warang citi",
    "ँ ं ः", "ـ tatweel", "ًٌٍَُِّْ arabic marks", "ๆ ฯ", "〜 ～", "゛゜ ゙゚", "ー",
    "mixed 中文 and English 和 日本語 ok", "العربية mixed with English text", "עברית and English",
]

INVALID = [
    b"\x80", b"\xbf", b"\x80\x80\x80", b"\xc0", b"\xc1", b"\xc0\xaf", b"\xc0\x80", b"\xc1\xbf",
    b"\xe0\x80\xaf", b"\xe0\x9f\xbf", b"\xf0\x80\x80\xaf", b"\xf0\x8f\xbf\xbf", b"\xed\xa0\x80",
    b"\xed\xbf\xbf", b"\xed\xa0\xbd\xed\xb8\x80", b"\xf4\x90\x80\x80", b"\xf4\x8f\xbf\xbf",
    b"\xf5\x80\x80\x80", b"\xf7\xbf\xbf\xbf", b"\xf8\x88\x80\x80\x80", b"\xfc\x84\x80\x80\x80\x80",
    b"\xfe", b"\xff", b"\xfe\xff", b"\xff\xfe", b"\xe2\x82", b"\xe2\x82a", b"a\xe2\x82", b"\xe2",
    b"\xf0\x9f\x98", b"\xf0\x9f\x98 ok", b"\xf0\x9f", b"\xf0", b"\xc3", b"abc\xc3", b"\xc3\x28",
    b"\xa0\xa1", b"\xe2\x28\xa1", b"\xe2\x82\x28", b"\xf0\x28\x8c\xbc", b"\xf0\x90\x28\xbc",
    b"\xf0\x28\x8c\x28", b"\xef\xbf\xbd", b"\xef\xbf", b"\xef\xbf\xbd\xef\xbf", b"\xc2\x80\xc2",
    b"Hello \xff world", b"caf\xe9", b"na\xefve", b"\xe9t\xe9", b"\x80abc\x80", b"a\x80b\x81c",
    b"\xe4\xb8\xad\xe6\x96", b"\xe4\xb8\xad\xe6\x96\x87\xe6", b"\xed\x9f\xbf\xed\xa0\x80",
    b"\xf0\x9f\x98\x80\xf0\x9f\x98", b"\xc3\xa9\xcc", b"<|im_start\xff|>", b"<|im_start|>\xff",
    b"\xff<|im_end|>", b"1\x802\x813", b" \x80 \x81 ", b"\n\x80\n", b"\xc0\xc1\xf5\xf6\xf7\xf8",
    b"\xe0\xa0", b"\xe0\xa0\x80", b"\xf0\x90\x80", b"\xf0\x90\x80\x80", b"\xf3\xbf\xbf",
    b"\xf4\x80", b"\xed\x80", b"\xed\xa0", b"'\x80s", b"don\x92t", b"\x93quoted\x94",
    bytes(range(0x80, 0x100)), bytes(range(0, 0x100)),
]

LONG = [
    " ".join(PROSE),
    "\n".join(CODE[:12]),
    "a" * 1000,
    "ab" * 300,
    " " * 200,
    "\n" * 50,
    "\t" * 30 + "x",
    "x" * 100,
    "x" * 101,
    "supercalifragilisticexpialidocious" * 4,
    "antidisestablishmentarianism",
    "pneumonoultramicroscopicsilicovolcanoconiosis",
    "aGVsbG8gd29ybGQgdGhpcyBpcyBhIGJhc2U2NCBlbmNvZGVkIHN0cmluZyB3aXRoIG5vIHNwYWNlcw==",
    "https://www.example.com/path/to/resource?query=value&other=123#fragment",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "😀" * 40,
    "中" * 120,
    "ab\u0301" * 60,
    ("word " * 150).strip(),
    "!" * 300,
    "0" * 64,
]

# ---- random mixes -------------------------------------------------------------

WORDS = ("the of and to in is you that it he was for on are as with his they I at be this have "
         "from or one had by word but not what all were we when your can said there use an each "
         "which she do how their if will up other about out many then them these so some her "
         "would make like him into time has look two more write go see number no way could people "
         "my than first water been call who oil its now find long down day did get come made may "
         "part tokenizer Hugging Face SmolLM model inference runtime embedding GPU CUDA kernel "
         "The A In It This We You They He She Hello World Python C Rust JSON HTTP").split()
SCRIPT_WORDS = ["中文", "测试", "日本語", "ひらがな", "カタカナ", "한국어", "안녕", "العربية", "مرحبا",
                "עברית", "हिन्दी", "नमस्ते", "ไทย", "Ελληνικά", "Русский", "Українська", "café",
                "cafe\u0301", "naïve", "Zürich", "straße", "İstanbul", "ΟΔΥΣΣΕΥΣ", "Ｆｕｌｌ", "ｶﾅ",
                "𝐁𝐨𝐥𝐝", "Ⅻ", "①", "١٢٣", "१२३", "๑๒", "ǅ", "ﬁ", "Å", "K", "ǰ", "ᾳ", "ß", "ẞ"]
EMOJI = ["😀", "❤️", "👍🏽", "👨‍👩‍👧", "🇺🇸", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "🎉", "🤖", "✨", "1️⃣", "☕", "🫠"]
SPACES = [" ", " ", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\r", "\u00a0", "\u3000", " \n",
          "\u2028", "\u0085", "\x0b", "\x0c", "\u200b", "\u2003"]
PUNCTS = list(".,;:!?'\"()[]{}<>-_/\\|@#$%^&*+=~`") + ["...", "--", "—", "“", "”", "‘", "’", "«", "»",
                                                      "。", "、", "！", "？", "¿", "¡", "…", "·"]
CONTR = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'VE", "'M", "'LL", "'D"]
SPECIALS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<repo_name>", "<reponame>", "<filename>",
            "[CLS]", "[SEP]", "[MASK]", "[UNK]", "[PAD]", "<|im_start", "|>"]
INVALID_BYTES = [b"\x80", b"\xff", b"\xc0\xaf", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                 b"\xf0\x9f\x98", b"\xc3", b"\xfe", b"\xe0\x80"]


def assigned_chars():
    """Code points with a category in Python's Unicode (no Cn, Cs, Co), used
    for random picks; pools by block of interest keep the mix readable."""
    pools = []
    for lo, hi in [(0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x52F), (0x590, 0x6FF),
                   (0x900, 0x97F), (0xE00, 0xE7F), (0x1100, 0x11FF), (0x1E00, 0x1FFF),
                   (0x2000, 0x206F), (0x2070, 0x218F), (0x2190, 0x2BFF), (0x3000, 0x30FF),
                   (0x4E00, 0x4EFF), (0xAC00, 0xACFF), (0xF900, 0xF9FF), (0xFE00, 0xFFEF),
                   (0x1D400, 0x1D7FF), (0x1F300, 0x1FAFF), (0x20000, 0x200FF), (0xE0000, 0xE007F),
                   (0x10400, 0x1044F), (0x1E900, 0x1E95F)]:
        pools.append([chr(c) for c in range(lo, hi + 1)
                      if unicodedata.category(chr(c)) not in ("Cn", "Cs", "Co")])
    return pools


def random_string(rng, pools):
    parts = []
    for _ in range(rng.randint(1, 14)):
        r = rng.random()
        if r < 0.30:
            parts.append(rng.choice(WORDS))
        elif r < 0.42:
            parts.append(rng.choice(SPACES))
        elif r < 0.50:
            parts.append(rng.choice(PUNCTS))
        elif r < 0.58:
            parts.append(str(rng.randint(0, 10 ** rng.randint(1, 8))))
        elif r < 0.66:
            parts.append(rng.choice(SCRIPT_WORDS))
        elif r < 0.71:
            parts.append(rng.choice(CONTR))
        elif r < 0.76:
            parts.append(rng.choice(EMOJI))
        elif r < 0.88:
            pool = rng.choice(pools)
            parts.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 4))))
        elif r < 0.93:
            parts.append(rng.choice(SPECIALS))
        elif r < 0.97:
            parts.append(rng.choice(INVALID_BYTES))
        else:
            parts.append(bytes(rng.randrange(256) for _ in range(rng.randint(1, 4))))
        if rng.random() < 0.5:
            parts.append(" ")
    return b"".join(p if isinstance(p, bytes) else p.encode("utf-8") for p in parts)


def corpus():
    texts = [""]
    for group in (PROSE, CODE, SPECIAL, whitespace_cases(), NUMBERS, PUNCT, CONTRACTIONS, UNICODE, LONG):
        texts += group
    # Every NFC string in UNICODE again in NFD, so both forms are covered.
    texts += [unicodedata.normalize("NFD", s) for s in UNICODE if unicodedata.normalize("NFD", s) != s]
    out = [t.encode("utf-8") for t in texts] + INVALID
    rng = random.Random(SEED)
    pools = assigned_chars()
    out += [random_string(rng, pools) for _ in range(N_RANDOM)]
    return out


def main():
    items = corpus()
    path = HERE / "tokenizer_corpus.hex"
    path.write_text("".join(b.hex() + "\n" for b in items))
    print(f"wrote {path}: {len(items)} strings, {sum(map(len, items))} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
