//! The character GPT's tokenizer: one token per character of its vocabulary, in the order its
//! model card lists them.

use crate::{Error, Result};

pub struct CharTokenizer {
    vocab: Vec<char>,
}

impl CharTokenizer {
    /// A tokenizer over `vocab`, which must hold single, distinct characters.
    pub fn new(vocab: &[String]) -> Result<CharTokenizer> {
        let mut chars = Vec::with_capacity(vocab.len());
        for entry in vocab {
            let mut it = entry.chars();
            match (it.next(), it.next()) {
                (Some(c), None) if !chars.contains(&c) => chars.push(c),
                _ => {
                    return Err(Error::Invalid(format!(
                        "vocabulary entry {entry:?} is not one new character"
                    )))
                }
            }
        }
        Ok(CharTokenizer { vocab: chars })
    }

    pub fn len(&self) -> usize {
        self.vocab.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vocab.is_empty()
    }

    /// The token ids of `text`; characters outside the vocabulary are an error that names them.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut unknown: Vec<char> = Vec::new();
        let ids = text
            .chars()
            .filter_map(|c| match self.vocab.iter().position(|&v| v == c) {
                Some(id) => Some(id as u32),
                None => {
                    if !unknown.contains(&c) {
                        unknown.push(c);
                    }
                    None
                }
            })
            .collect();
        if unknown.is_empty() {
            Ok(ids)
        } else {
            let listed: Vec<String> = unknown.iter().map(|c| format!("{c:?}")).collect();
            Err(Error::Invalid(format!(
                "the model knows only the {} characters of its training text, not {}",
                self.len(),
                listed.join(", ")
            )))
        }
    }

    /// The text of token ids; an id outside the vocabulary is an error.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        ids.iter()
            .map(|&id| {
                self.vocab.get(id as usize).copied().ok_or_else(|| {
                    Error::Invalid(format!(
                        "token id {id} is outside the vocabulary of {}",
                        self.len()
                    ))
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn round_trip_and_errors() {
        let vocab: Vec<String> = ["\n", " ", "a", "b", "é"].iter().map(|s| s.to_string()).collect();
        let t = CharTokenizer::new(&vocab).unwrap();
        assert_eq!(t.encode("ab é\n").unwrap(), [2, 3, 1, 4, 0]);
        assert_eq!(t.decode(&[4, 2, 0]).unwrap(), "éa\n");
        let err = t.encode("abc?c").unwrap_err().to_string();
        assert!(err.contains("'c'") && err.contains("'?'"), "{err}");
        assert!(t.decode(&[5]).is_err());
        assert!(CharTokenizer::new(&["ab".to_string()]).is_err());
        assert!(CharTokenizer::new(&["a".to_string(), "a".to_string()]).is_err());
    }
}
