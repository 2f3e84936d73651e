//! Conversations as a chat model reads them: the ChatML turns (`<|im_start|>role\ncontent
//! <|im_end|>\n`) that SmolLM2's template (a Jinja string in its GGUF) writes, with the default
//! system message the template adds when the conversation has none. Templates in any other
//! format are refused rather than guessed at. Message contents are tokenized as plain text, so
//! a user who types `<|im_end|>` cannot end a turn.

use super::bpe::BpeTokenizer;
use crate::error::invalid;
use crate::formats::json::Json;
use crate::Result;

const START: &str = "<|im_start|>";
const END: &str = "<|im_end|>";
/// The opening of the template's default system message.
const DEFAULT_SYSTEM: &str = "'<|im_start|>system\n";

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    /// Messages from JSON: `[{"role": "user", "content": "..."}, ...]`, roles system, user or
    /// assistant.
    pub fn parse_list(json: &str) -> Result<Vec<Message>> {
        let Ok(Json::Array(items)) = Json::parse(json) else {
            invalid!("messages must be a JSON array of {{role, content}} objects");
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let field = |name: &str| item.get(name).and_then(Json::as_str).map(String::from);
            let (Some(role), Some(content)) = (field("role"), field("content")) else {
                invalid!("message {i} needs a string role and a string content");
            };
            if !matches!(role.as_str(), "system" | "user" | "assistant") {
                invalid!("message {i} has role {role:?}; system, user or assistant expected");
            }
            out.push(Message { role, content });
        }
        if out.last().is_none_or(|m| m.role == "assistant") {
            invalid!("the conversation must end with a user (or system) message to answer");
        }
        Ok(out)
    }
}

pub struct ChatTemplate {
    default_system: Option<String>,
}

impl ChatTemplate {
    /// Reads the template string of a GGUF (`tokenizer.chat_template`): ChatML, with or
    /// without a default system message.
    pub fn from_jinja(template: &str) -> Result<ChatTemplate> {
        if !(template.contains(START) && template.contains(END)) {
            invalid!("the model's chat template is not ChatML (<|im_start|> ... <|im_end|>)");
        }
        let default_system = template.find(DEFAULT_SYSTEM).and_then(|at| {
            let rest = &template[at + DEFAULT_SYSTEM.len()..];
            rest.find(END).map(|end| rest[..end].to_string())
        });
        Ok(ChatTemplate { default_system })
    }

    /// The conversation with the default system message first when it has none.
    fn turns<'a>(&'a self, messages: &'a [Message]) -> Vec<(&'a str, &'a str)> {
        let default = self
            .default_system
            .as_deref()
            .filter(|_| messages.first().is_none_or(|m| m.role != "system"));
        let first = default.map(|content| ("system", content));
        first
            .into_iter()
            .chain(messages.iter().map(|m| (m.role.as_str(), m.content.as_str())))
            .collect()
    }

    /// The text the template renders, ending in the assistant's opening.
    pub fn render(&self, messages: &[Message]) -> String {
        let mut out = String::new();
        for (role, content) in self.turns(messages) {
            out += &format!("{START}{role}\n{content}{END}\n");
        }
        out + START + "assistant\n"
    }

    /// The token ids of `render(messages)`: the turn markers as their control tokens, roles and
    /// contents as plain text.
    pub fn encode(&self, tok: &BpeTokenizer, messages: &[Message]) -> Result<Vec<u32>> {
        let (Some(start), Some(end)) = (tok.token_id(START), tok.token_id(END)) else {
            invalid!("the tokenizer has no {START} and {END} tokens");
        };
        let mut ids = Vec::new();
        for (role, content) in self.turns(messages) {
            ids.push(start);
            ids.extend(tok.encode(&format!("{role}\n"), false));
            ids.extend(tok.encode(content, false));
            ids.push(end);
            ids.extend(tok.encode("\n", false));
        }
        ids.push(start);
        ids.extend(tok.encode("assistant\n", false));
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nBe brief.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn renders_chatml_with_the_default_system_message() {
        let t = ChatTemplate::from_jinja(TEMPLATE).unwrap();
        let messages = Message::parse_list(r#"[{"role":"user","content":"Hi"}]"#).unwrap();
        assert_eq!(
            t.render(&messages),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        let own = r#"[{"role":"system","content":"S"},{"role":"user","content":"Q"},{"role":"assistant","content":"A"},{"role":"user","content":"R"}]"#;
        assert_eq!(
            t.render(&Message::parse_list(own).unwrap()),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n<|im_start|>user\nR<|im_end|>\n<|im_start|>assistant\n"
        );
        assert!(ChatTemplate::from_jinja("{{ bos_token }}[INST] {{ message }} [/INST]").is_err());
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn bad_message_lists_are_errors() {
        for bad in [
            "",
            "{}",
            "[]",
            r#"[{"role":"user"}]"#,
            r#"[{"role":"user","content":3}]"#,
            r#"[{"role":"robot","content":"x"}]"#,
            r#"[{"role":"user","content":"x"},{"role":"assistant","content":"y"}]"#,
        ] {
            assert!(Message::parse_list(bad).is_err(), "{bad:?}");
        }
    }
}
