//! Strict JSON (RFC 8259), enough for safetensors headers and model cards: a recursive-descent
//! parser with a nesting limit, so hostile input is an error and never a stack overflow.

use crate::error::invalid;
use crate::Result;

/// Deeper nesting is refused; the files we read nest three or four levels.
const MAX_DEPTH: usize = 64;

/// A parsed JSON value; objects keep their members in file order.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Parses one value, surrounded by nothing but whitespace.
    pub fn parse(text: &str) -> Result<Json> {
        let mut parser = Parser { text, pos: 0 };
        let value = parser.value(0)?;
        parser.whitespace();
        if parser.pos != text.len() {
            return parser.fail("unexpected characters after the value");
        }
        Ok(value)
    }

    /// The member `key` of an object (the first, should it repeat).
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Json::Number(n) => Some(n),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    /// A non-negative integer that fits a `usize` and that an f64 holds exactly (below 2^53).
    pub fn as_usize(&self) -> Option<usize> {
        const EXACT: f64 = 9_007_199_254_740_992.0;
        match *self {
            Json::Number(n)
                if n >= 0.0 && n.fract() == 0.0 && n < EXACT && n <= usize::MAX as f64 =>
            {
                Some(n as usize)
            }
            _ => None,
        }
    }
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn fail<T>(&self, what: &str) -> Result<T> {
        invalid!("JSON at byte {}: {what}", self.pos)
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// Consumes `byte` if it comes next.
    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.pos += 1;
        }
        found
    }

    fn whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// Consumes a run of ASCII digits; false if there was none.
    fn digits(&mut self) -> bool {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos > start
    }

    fn value(&mut self, depth: usize) -> Result<Json> {
        self.whitespace();
        match self.peek() {
            None => self.fail("expected a value, found the end"),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'"') => Ok(Json::String(self.string()?)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'[' | b'{') if depth >= MAX_DEPTH => self.fail("nested more than 64 deep"),
            Some(b'[') => self.array(depth),
            Some(b'{') => self.object(depth),
            Some(c) => self.fail(&format!("unexpected '{}'", c.escape_ascii())),
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json> {
        if !self
            .text
            .as_bytes()
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(word.as_bytes()))
        {
            return self.fail(&format!("expected {word}"));
        }
        self.pos += word.len();
        Ok(value)
    }

    fn array(&mut self, depth: usize) -> Result<Json> {
        self.pos += 1;
        let mut items = Vec::new();
        self.whitespace();
        if self.eat(b']') {
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.whitespace();
            if self.eat(b']') {
                return Ok(Json::Array(items));
            }
            if !self.eat(b',') {
                return self.fail("expected ',' or ']' in an array");
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json> {
        self.pos += 1;
        let mut members = Vec::new();
        self.whitespace();
        if self.eat(b'}') {
            return Ok(Json::Object(members));
        }
        loop {
            self.whitespace();
            if self.peek() != Some(b'"') {
                return self.fail("expected a string key");
            }
            let key = self.string()?;
            self.whitespace();
            if !self.eat(b':') {
                return self.fail("expected ':' after a key");
            }
            members.push((key, self.value(depth + 1)?));
            self.whitespace();
            if self.eat(b'}') {
                return Ok(Json::Object(members));
            }
            if !self.eat(b',') {
                return self.fail("expected ',' or '}' in an object");
            }
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, finite as an f64.
    fn number(&mut self) -> Result<Json> {
        let start = self.pos;
        self.eat(b'-');
        if self.eat(b'0') {
            if matches!(self.peek(), Some(b'0'..=b'9')) {
                return self.fail("leading zero in a number");
            }
        } else if !self.digits() {
            return self.fail("expected a digit");
        }
        if self.eat(b'.') && !self.digits() {
            return self.fail("expected a digit after '.'");
        }
        if self.eat(b'e') || self.eat(b'E') {
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if !self.digits() {
                return self.fail("expected a digit in the exponent");
            }
        }
        match self.text.get(start..self.pos).map(str::parse::<f64>) {
            Some(Ok(n)) if n.is_finite() => Ok(Json::Number(n)),
            _ => self.fail("number out of range"),
        }
    }

    fn string(&mut self) -> Result<String> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            // A run of plain characters ends at an ASCII byte (or the end): a char boundary.
            let run = self.pos;
            while matches!(self.peek(), Some(c) if c != b'"' && c != b'\\' && c >= 0x20) {
                self.pos += 1;
            }
            match self.text.get(run..self.pos) {
                Some(s) => out.push_str(s),
                None => return self.fail("string splits a character"),
            }
            match self.peek() {
                None => return self.fail("unterminated string"),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let c = self.escape()?;
                    out.push(c);
                }
                Some(_) => return self.fail("unescaped control character in a string"),
            }
        }
    }

    fn escape(&mut self) -> Result<char> {
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.pos += 1;
                return self.unicode();
            }
            _ => return self.fail("unknown escape"),
        };
        self.pos += 1;
        Ok(c)
    }

    /// The code point after `\u`: four hex digits, or a surrogate pair of two escapes.
    fn unicode(&mut self) -> Result<char> {
        let high = self.hex4()?;
        let code = match high {
            0xD800..=0xDBFF => {
                if !(self.eat(b'\\') && self.eat(b'u')) {
                    return self.fail("high surrogate without a low one");
                }
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return self.fail("high surrogate without a low one");
                }
                0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
            }
            0xDC00..=0xDFFF => return self.fail("low surrogate without a high one"),
            _ => high,
        };
        match char::from_u32(code) {
            Some(c) => Ok(c),
            None => self.fail("invalid code point"),
        }
    }

    fn hex4(&mut self) -> Result<u32> {
        let mut value = 0;
        for _ in 0..4 {
            let Some(digit) = self.peek().and_then(|c| char::from(c).to_digit(16)) else {
                return self.fail("expected four hex digits after \\u");
            };
            value = value * 16 + digit;
            self.pos += 1;
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::Json;

    fn parse(text: &str) -> Json {
        Json::parse(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn escapes() {
        let s = parse(r#""a\"b\\c\/d\b\f\n\r\t""#);
        assert_eq!(s.as_str(), Some("a\"b\\c/d\u{8}\u{c}\n\r\t"));
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn unicode() {
        assert_eq!(parse(r#""\u00e9\u00E9é""#).as_str(), Some("ééé"));
        assert_eq!(parse(r#""\ud83d\ude00 😀""#).as_str(), Some("😀 😀"));
        assert_eq!(parse(r#""\u0000""#).as_str(), Some("\0"));
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn nesting_and_access() {
        let v =
            parse(r#" { "a" : [1, {"b": null}, true, false, "x"], "n": 3, "e": {}, "l": [] } "#);
        let a = v.get("a").and_then(Json::as_array).unwrap();
        assert_eq!(a.len(), 5);
        assert_eq!(a[1].get("b"), Some(&Json::Null));
        assert_eq!(a[2], Json::Bool(true));
        assert_eq!(v.get("n").and_then(Json::as_usize), Some(3));
        assert_eq!(v.get("e"), Some(&Json::Object(vec![])));
        assert_eq!(v.get("missing"), None);
        assert_eq!(a[0].get("a"), None);
        let deepest = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert!(Json::parse(&deepest).is_ok());
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn numbers() {
        let n = |t: &str| parse(t).as_f64().unwrap();
        assert!(n("-0") == 0.0 && n("-0").is_sign_negative());
        assert_eq!(n("1e-7"), 1e-7);
        assert_eq!(n("1E+3"), 1000.0);
        assert_eq!(n("-12.25e2"), -1225.0);
        assert_eq!(n("0.5"), 0.5);
        let u = |t: &str| parse(t).as_usize();
        assert_eq!(u("0"), Some(0));
        assert_eq!(u("52416"), Some(52416));
        assert_eq!(
            (u("-1"), u("1.5"), u("1e300"), u("9007199254740993")),
            (None, None, None, None)
        );
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn malformed() {
        let bomb = "[".repeat(100_000);
        let deeper = format!("{}{}", "[".repeat(65), "]".repeat(65));
        for bad in [
            "",
            "   ",
            r#""unterminated"#,
            r#""bad \q escape""#,
            "\"control \u{1} char\"",
            "[1, 2,]",
            r#"{"a": 1,}"#,
            "[1 2]",
            r#"{"a" 1}"#,
            "{a: 1}",
            "'single'",
            "01",
            "-01",
            "00",
            "1.",
            ".5",
            "+1",
            "1e",
            "-",
            "1e400",
            "NaN",
            "tru",
            r#""\ud83d""#,
            r#""\ude00""#,
            r#""\ud83d\u0041""#,
            r#""\u12G4""#,
            &bomb,
            &deeper,
            "1 2",
            "{} x",
            "null,",
        ] {
            let err = Json::parse(bad).expect_err(bad);
            assert!(matches!(err, crate::Error::Invalid(_)), "{bad:?}: {err}");
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn model_card() {
        let card = parse(include_str!("../../www/models/gan_generator_mnist.json"));
        let latent = card.get("architecture").and_then(|a| a.get("latent"));
        assert_eq!(latent.and_then(Json::as_usize), Some(64));
        assert_eq!(card.get("name").and_then(Json::as_str), Some("gan_generator_mnist"));
    }
}
