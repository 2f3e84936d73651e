//! Byte-level BPE, GPT-2's scheme, read from a GGUF file's own tokenizer metadata (tokens,
//! merges, token types). Text is split into pieces (each digit alone, then GPT-2's pattern of
//! contractions, letter runs, number runs, punctuation runs and whitespace), each piece's UTF-8
//! bytes become one symbol each, and the merges are applied lowest rank first. Control tokens
//! such as `<|im_start|>` are matched whole in the text when asked to.

use std::collections::HashMap;

use unicode_general_category::{get_general_category, GeneralCategory};

use crate::error::invalid;
use crate::formats::gguf::{Gguf, Value};
use crate::Result;

/// Token types of `tokenizer.ggml.token_type` that are matched whole: control and
/// user-defined tokens.
const CONTROL: u64 = 3;
const USER_DEFINED: u64 = 4;

pub struct BpeTokenizer {
    /// Token texts in GPT-2's byte alphabet (a space is `Ġ`), by id.
    tokens: Vec<String>,
    ids: HashMap<String, u32>,
    /// Merge rank and result of each mergeable pair of token ids.
    merges: HashMap<(u32, u32), (u32, u32)>,
    /// Control and user-defined tokens, longest first, matched before the BPE.
    special: Vec<(String, u32)>,
    /// The token of each byte (None where the vocabulary lacks it), and the byte of each
    /// character of GPT-2's byte alphabet.
    byte_ids: [Option<u32>; 256],
    char_byte: HashMap<char, u8>,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
}

/// GPT-2's reversible map from bytes to printable characters: printable Latin-1 bytes stand for
/// themselves, the others take the code points from 256 on, in order.
fn byte_chars() -> [char; 256] {
    let mut out = ['\0'; 256];
    let mut next = 256;
    for (b, slot) in out.iter_mut().enumerate() {
        let printable = matches!(b, 0x21..=0x7e | 0xa1..=0xac | 0xae..=0xff);
        let code = if printable {
            b as u32
        } else {
            next += 1;
            next - 1
        };
        *slot = char::from_u32(code).unwrap_or('\0');
    }
    out
}

fn strings<'a>(file: &'a Gguf, key: &str) -> Result<Vec<&'a str>> {
    let items = file.get(key).and_then(Value::as_array);
    let strings: Option<Vec<&str>> = items.and_then(|v| v.iter().map(Value::as_str).collect());
    match strings {
        Some(s) => Ok(s),
        None => invalid!("gguf: no string array '{key}' in the metadata"),
    }
}

impl BpeTokenizer {
    pub fn from_gguf(file: &Gguf) -> Result<BpeTokenizer> {
        let model = file.str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            invalid!("gguf: tokenizer '{model}' is not supported (byte-level BPE, gpt2, is)");
        }
        let tokens = strings(file, "tokenizer.ggml.tokens")?;
        let types: Vec<u64> = match file.get("tokenizer.ggml.token_type") {
            Some(Value::Array(types)) => types.iter().map(|t| t.as_u64().unwrap_or(1)).collect(),
            _ => vec![1; tokens.len()],
        };
        if types.len() != tokens.len() {
            invalid!("gguf: {} token types for {} tokens", types.len(), tokens.len());
        }
        let merges = strings(file, "tokenizer.ggml.merges")?;
        let id = |key: &str| file.usize(key).ok().map(|id| id as u32);
        BpeTokenizer::new(
            &tokens,
            &types,
            &merges,
            id("tokenizer.ggml.bos_token_id"),
            id("tokenizer.ggml.eos_token_id"),
        )
    }

    /// A tokenizer from its token texts, their types (1 normal, 3 control, 4 user-defined,
    /// ...) and merges (`"A B"`, lowest rank first).
    pub fn new(
        tokens: &[&str],
        types: &[u64],
        merges: &[&str],
        bos: Option<u32>,
        eos: Option<u32>,
    ) -> Result<BpeTokenizer> {
        let mut ids = HashMap::with_capacity(tokens.len());
        for (id, &token) in tokens.iter().enumerate() {
            if ids.insert(token.to_string(), id as u32).is_some() {
                invalid!("tokenizer: token {token:?} appears twice");
            }
        }
        let mut merge_map = HashMap::with_capacity(merges.len());
        for (rank, merge) in merges.iter().enumerate() {
            let pair = merge.split_once(' ').and_then(|(a, b)| {
                Some(((*ids.get(a)?, *ids.get(b)?), *ids.get(&format!("{a}{b}"))?))
            });
            let Some((pair, merged)) = pair else {
                invalid!("tokenizer: merge {merge:?} is not two tokens making a third");
            };
            merge_map.entry(pair).or_insert((rank as u32, merged));
        }
        let byte_char = byte_chars();
        let byte_ids = byte_char.map(|c| ids.get(&c.to_string()).copied());
        let mut special: Vec<(String, u32)> = (0..tokens.len())
            .filter(|&i| matches!(types.get(i), Some(&CONTROL | &USER_DEFINED)))
            .map(|i| (tokens[i].to_string(), i as u32))
            .filter(|(text, _)| !text.is_empty())
            .collect();
        special.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        let in_vocab = |id: Option<u32>| id.filter(|&id| (id as usize) < tokens.len());
        Ok(BpeTokenizer {
            tokens: tokens.iter().map(|t| t.to_string()).collect(),
            ids,
            merges: merge_map,
            special,
            byte_ids,
            char_byte: byte_char.iter().enumerate().map(|(b, &c)| (c, b as u8)).collect(),
            bos: in_vocab(bos),
            eos: in_vocab(eos),
        })
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The id of a token given by its text (`<|im_start|>`, say).
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.ids.get(text).copied()
    }

    /// The token ids of `text`. With `parse_special`, control tokens written in the text
    /// (`<|im_end|>`) become those tokens; without, they are tokenized as plain text.
    pub fn encode(&self, text: &str, parse_special: bool) -> Vec<u32> {
        let mut out = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let found = parse_special
                .then(|| self.next_special(rest))
                .flatten()
                .unwrap_or((rest.len(), None));
            let (plain, special) = (&rest[..found.0], found.1);
            for piece in pieces(plain) {
                self.encode_piece(piece, &mut out);
            }
            rest = &rest[found.0..];
            if let Some((len, id)) = special {
                out.push(id);
                rest = &rest[len..];
            }
        }
        out
    }

    /// Where the first control token in `text` starts, its length and id.
    fn next_special(&self, text: &str) -> Option<(usize, Option<(usize, u32)>)> {
        let (start, len, id) = self
            .special
            .iter()
            .filter_map(|(s, id)| text.find(s.as_str()).map(|at| (at, s.len(), *id)))
            .min_by_key(|&(at, len, _)| (at, usize::MAX - len))?;
        Some((start, Some((len, id))))
    }

    /// Merges the bytes of one piece, lowest-ranked pair first (the leftmost on ties). A byte
    /// the vocabulary lacks (some control characters) is dropped, as Hugging Face's BPE does
    /// without an unknown token.
    fn encode_piece(&self, piece: &str, out: &mut Vec<u32>) {
        let mut symbols: Vec<u32> =
            piece.bytes().filter_map(|b| self.byte_ids[b as usize]).collect();
        while symbols.len() > 1 {
            let best = symbols
                .windows(2)
                .enumerate()
                .filter_map(|(i, w)| {
                    self.merges.get(&(w[0], w[1])).map(|&(rank, id)| (rank, i, id))
                })
                .min();
            let Some((_, at, merged)) = best else { break };
            symbols[at] = merged;
            symbols.remove(at + 1);
        }
        out.extend(symbols);
    }

    /// The bytes of `ids`: each token's characters mapped back to bytes; control tokens give
    /// their text. Not UTF-8 in general until a whole character's tokens are in.
    pub fn decode_bytes(&self, ids: &[u32]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        for &id in ids {
            let Some(token) = self.tokens.get(id as usize) else {
                invalid!("token id {id} is outside the vocabulary of {}", self.len());
            };
            if self.special.iter().any(|(_, s)| *s == id) {
                out.extend(token.as_bytes());
            } else {
                out.extend(token.chars().map(|c| self.char_byte.get(&c).copied().unwrap_or(b'?')));
            }
        }
        Ok(out)
    }

    /// The text of `ids`, with any broken UTF-8 replaced by U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.decode_bytes(ids)?).into_owned())
    }
}

/// The longest whole-character text at the front of `bytes`, taken out of it; bytes that can
/// never be UTF-8 become U+FFFD, an unfinished character at the end stays.
pub fn take_utf8(bytes: &mut Vec<u8>) -> String {
    let mut text = String::new();
    loop {
        match std::str::from_utf8(bytes) {
            Ok(all) => {
                text += all;
                bytes.clear();
                return text;
            }
            Err(e) => {
                let valid = e.valid_up_to();
                text += std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
                let Some(bad) = e.error_len() else {
                    bytes.drain(..valid);
                    return text;
                };
                text.push('\u{fffd}');
                bytes.drain(..valid + bad);
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Class {
    Letter,
    Number,
    Space,
    Other,
}

fn class(c: char) -> Class {
    use GeneralCategory as G;
    match get_general_category(c) {
        G::UppercaseLetter
        | G::LowercaseLetter
        | G::TitlecaseLetter
        | G::ModifierLetter
        | G::OtherLetter => Class::Letter,
        G::DecimalNumber | G::LetterNumber | G::OtherNumber => Class::Number,
        _ if c.is_whitespace() => Class::Space,
        _ => Class::Other,
    }
}

/// Splits text as SmolLM's pre-tokenizer does: every number character alone, then in between
/// GPT-2's pattern `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
pub fn pieces(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut span_start = 0;
    for (at, c) in text.char_indices() {
        if class(c) == Class::Number {
            gpt2_pieces(&text[span_start..at], &mut out);
            out.push(&text[at..at + c.len_utf8()]);
            span_start = at + c.len_utf8();
        }
    }
    gpt2_pieces(&text[span_start..], &mut out);
    out
}

const CONTRACTIONS: [&str; 7] = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"];

fn gpt2_pieces<'a>(text: &'a str, out: &mut Vec<&'a str>) {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let end_of = |i: usize| chars.get(i).map_or(text.len(), |&(at, _)| at);
    // The end of the run of `class` from char index `i`.
    let run = |mut i: usize, class_of: Class| {
        while chars.get(i).is_some_and(|&(_, c)| class(c) == class_of) {
            i += 1;
        }
        i
    };
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        let rest = &text[start..];
        let next = if let Some(m) = CONTRACTIONS.iter().find(|m| rest.starts_with(*m)) {
            i + m.chars().count()
        } else {
            // An optional single space, then a run of letters, numbers or other characters.
            let body = if c == ' ' { i + 1 } else { i };
            match chars.get(body).map(|&(_, b)| class(b)) {
                Some(k @ (Class::Letter | Class::Number | Class::Other)) => run(body, k),
                _ => {
                    // Whitespace: all of it at the end of the text; before anything else, all
                    // but its last character (which may lead the next piece), at least one.
                    let end = run(i, Class::Space);
                    if end == chars.len() || end - i == 1 {
                        end
                    } else {
                        end - 1
                    }
                }
            }
        };
        out.push(&text[start..end_of(next)]);
        i = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn pieces_follow_the_pattern() {
        let cases: [(&str, &[&str]); 9] = [
            ("Hello world", &["Hello", " world"]),
            ("I'm here, they'll see!", &["I", "'m", " here", ",", " they", "'ll", " see", "!"]),
            ("a  b\n\nc  ", &["a", " ", " b", "\n", "\n", "c", "  "]),
            ("x\ny", &["x", "\n", "y"]),
            ("cost 1234.5", &["cost", " ", "1", "2", "3", "4", ".", "5"]),
            ("  (hi)", &[" ", " (", "hi", ")"]),
            ("नमस्ते दुनिया", &["नमस", "्", "त", "े", " द", "ु", "न", "ि", "य", "ा"]),
            ("🙂🙂 ok", &["🙂🙂", " ok"]),
            ("", &[]),
        ];
        for (text, want) in cases {
            assert_eq!(pieces(text), want, "{text:?}");
        }
    }

    /// A vocabulary of the 256 byte characters plus what `merges` make.
    fn tiny(merges: &[&str], special: &[&str]) -> BpeTokenizer {
        let mut tokens: Vec<String> = byte_chars().iter().map(|c| c.to_string()).collect();
        for m in merges {
            tokens.push(m.replace(' ', ""));
        }
        tokens.extend(special.iter().map(|s| s.to_string()));
        let types: Vec<u64> =
            (0..tokens.len()).map(|i| if i >= 256 + merges.len() { 3 } else { 1 }).collect();
        let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
        BpeTokenizer::new(&refs, &types, merges, None, None).unwrap()
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn merges_by_rank_and_round_trips() {
        // By rank: "l o" first (h e l lo), then "h e" (he l lo), then "he l" (hel lo).
        let t = tiny(&["l o", "h e", "he l", "Ġ w"], &["<|end|>"]);
        let id = |s: &str| t.token_id(s).unwrap();
        assert_eq!(t.encode("hello", false), [id("hel"), id("lo")]);
        assert_eq!(t.encode("helo", false), [id("he"), id("lo")], "he + lo: no merge makes helo");
        assert_eq!(t.encode(" w", false), [id("Ġw")]);
        let text = "héllo <|end|> wörld\n\t🙂";
        assert_eq!(t.decode(&t.encode(text, false)).unwrap(), text);
        let parsed = t.encode(text, true);
        assert!(parsed.contains(&id("<|end|>")));
        assert_eq!(t.decode(&parsed).unwrap(), text);
        assert!(!t.encode(text, false).contains(&id("<|end|>")));
        assert!(t.decode(&[t.len() as u32]).is_err());
        // Half of a two-byte character decodes to U+FFFD rather than failing.
        let e_acute = t.encode("é", false);
        assert_eq!(e_acute.len(), 2);
        assert_eq!(t.decode(&e_acute[..1]).unwrap(), "\u{fffd}");
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn streamed_bytes_give_whole_characters() {
        let mut pending = Vec::new();
        let mut text = String::new();
        for chunk in ["a\u{e9}".as_bytes(), &[0xf0, 0x9f], &[0x99, 0x82, b'!']] {
            pending.extend(chunk);
            text += &take_utf8(&mut pending);
            if chunk.len() == 2 {
                assert_eq!(text, "a\u{e9}", "half an emoji waits");
            }
        }
        assert_eq!((text.as_str(), pending.len()), ("a\u{e9}\u{1f642}!", 0));
        let mut broken = vec![b'x', 0xff, b'y', 0xe2, 0x82];
        assert_eq!(take_utf8(&mut broken), "x\u{fffd}y");
        assert_eq!(broken, [0xe2, 0x82], "an unfinished character stays");
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn bad_vocabularies_are_errors_and_missing_bytes_are_dropped() {
        let bytes: Vec<String> = byte_chars().iter().map(|c| c.to_string()).collect();
        let refs: Vec<&str> = bytes.iter().map(String::as_str).collect();
        let ones = vec![1; refs.len()];
        assert!(
            BpeTokenizer::new(&refs, &ones, &["a b"], None, None).is_err(),
            "merge makes no token"
        );
        assert!(BpeTokenizer::new(&refs, &ones, &["ab"], None, None).is_err(), "merge of one");
        let no_nul = BpeTokenizer::new(&refs[1..], &ones[1..], &[], None, None).unwrap();
        assert_eq!(no_nul.encode("\u{0}a", false).len(), 1, "a byte without a token is dropped");
        let twice = [refs.clone(), vec!["a"]].concat();
        assert!(
            BpeTokenizer::new(&twice, &[ones.clone(), vec![1]].concat(), &[], None, None).is_err()
        );
    }
}
