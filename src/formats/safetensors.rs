//! Safetensors: an 8-byte little-endian header length, a JSON header giving each tensor's dtype,
//! shape and byte range in the data section, then the data. Every field is checked before a byte
//! of data is read, so a truncated or hostile file is an `Error::Invalid`, never a panic.

use super::json::Json;
use crate::error::invalid;
use crate::{Error, Result};

/// A larger header is refused before it is read (the format's own limit).
const MAX_HEADER: u64 = 100_000_000;

/// A parsed file: its tensors (sorted by name), its string metadata, and the data it borrows.
#[derive(Debug)]
pub struct SafeTensors<'a> {
    tensors: Vec<(String, TensorInfo)>,
    metadata: Vec<(String, String)>,
    data: &'a [u8],
}

/// One tensor's header entry; `start..end` are byte offsets into the data section.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub dtype: String,
    pub shape: Vec<usize>,
    pub start: usize,
    pub end: usize,
}

/// Bytes per element of the dtypes the format defines.
fn dtype_size(dtype: &str) -> Option<usize> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" => 1,
        "U16" | "I16" | "F16" | "BF16" => 2,
        "U32" | "I32" | "F32" => 4,
        "U64" | "I64" | "F64" => 8,
        _ => return None,
    })
}

impl<'a> SafeTensors<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<SafeTensors<'a>> {
        let Some((len, rest)) = bytes.split_first_chunk::<8>() else {
            invalid!("safetensors: {} bytes is too short for the header length", bytes.len());
        };
        let len = u64::from_le_bytes(*len);
        if len > MAX_HEADER {
            invalid!("safetensors: header of {len} bytes is over the 100 MB limit");
        }
        let Some((header, data)) = usize::try_from(len).ok().and_then(|n| rest.split_at_checked(n))
        else {
            invalid!("safetensors: header of {len} bytes runs past the {}-byte file", bytes.len());
        };
        let Ok(header) = std::str::from_utf8(header) else {
            invalid!("safetensors: header is not UTF-8");
        };
        let header = match Json::parse(header) {
            Ok(header) => header,
            Err(Error::Invalid(why)) => invalid!("safetensors header: {why}"),
            Err(e) => return Err(e),
        };
        let Json::Object(members) = header else {
            invalid!("safetensors: header is not a JSON object");
        };

        let mut tensors = Vec::with_capacity(members.len());
        let mut metadata = Vec::new();
        for (name, entry) in members {
            if name == "__metadata__" {
                metadata = read_metadata(entry)?;
            } else {
                let info = read_info(&name, &entry, data.len())?;
                tensors.push((name, info));
            }
        }
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some((a, _)) = tensors.iter().zip(tensors.iter().skip(1)).find(|(a, b)| a.0 == b.0) {
            invalid!("safetensors: tensor '{}' appears twice", a.0);
        }

        // The tensors must tile the data section exactly: no overlap, no gap, nothing after.
        let mut ranges: Vec<(usize, usize, &str)> =
            tensors.iter().map(|(name, t)| (t.start, t.end, name.as_str())).collect();
        ranges.sort_unstable();
        let mut covered = 0;
        for (start, end, name) in ranges {
            if start < covered {
                invalid!(
                    "safetensors: tensor '{name}' at byte {start} overlaps bytes up to {covered}"
                );
            }
            if start > covered {
                invalid!(
                    "safetensors: bytes {covered}..{start} before tensor '{name}' are in no tensor"
                );
            }
            covered = end;
        }
        if covered != data.len() {
            invalid!("safetensors: tensors cover {covered} of the {} data bytes", data.len());
        }
        Ok(SafeTensors { tensors, metadata, data })
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.iter().map(|(name, _)| name.as_str())
    }

    /// A value of the header's `__metadata__` map.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn info(&self, name: &str) -> Result<&TensorInfo> {
        let found = self.tensors.binary_search_by(|(n, _)| n.as_str().cmp(name)).ok();
        match found.and_then(|i| self.tensors.get(i)) {
            Some((_, info)) => Ok(info),
            None => invalid!("safetensors: no tensor '{name}'"),
        }
    }

    /// The tensor as f32, checked: dtype F32 and exactly `shape`, else Err(Invalid) with name,
    /// expected and found.
    pub fn f32(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let (chunks, _) = self.bytes(name, "F32", shape)?.as_chunks::<4>();
        Ok(chunks.iter().map(|&c| f32::from_le_bytes(c)).collect())
    }

    /// Same for I64 tensors (fixtures hold labels and token ids), returned as i64.
    pub fn i64(&self, name: &str, shape: &[usize]) -> Result<Vec<i64>> {
        let (chunks, _) = self.bytes(name, "I64", shape)?.as_chunks::<8>();
        Ok(chunks.iter().map(|&c| i64::from_le_bytes(c)).collect())
    }

    /// The shape, for callers that read it rather than check it.
    pub fn shape(&self, name: &str) -> Result<&[usize]> {
        Ok(&self.info(name)?.shape)
    }

    /// The data of `name`, after checking its dtype and shape.
    fn bytes(&self, name: &str, dtype: &str, shape: &[usize]) -> Result<&'a [u8]> {
        let info = self.info(name)?;
        if info.dtype != dtype {
            invalid!("safetensors: tensor '{name}': expected dtype {dtype}, found {}", info.dtype);
        }
        if info.shape != shape {
            invalid!(
                "safetensors: tensor '{name}': expected shape {shape:?}, found {:?}",
                info.shape
            );
        }
        match self.data.get(info.start..info.end) {
            Some(bytes) => Ok(bytes),
            None => invalid!("safetensors: tensor '{name}' lies outside the data"),
        }
    }
}

/// A safetensors file of float32 tensors `(name, shape, values)`, in the order given, with
/// string `metadata`: what `SafeTensors::parse` reads and `safetensors.torch.load_file` loads.
/// Names must be unique, and each tensor's values must fill its shape.
pub fn write_f32(
    tensors: &[(&str, &[usize], &[f32])],
    metadata: &[(&str, &str)],
) -> Result<Vec<u8>> {
    let mut header = String::from("{");
    if !metadata.is_empty() {
        let entries: Vec<String> =
            metadata.iter().map(|(k, v)| format!("{}:{}", quoted(k), quoted(v))).collect();
        header += &format!("\"__metadata__\":{{{}}}", entries.join(","));
    }
    let mut offset = 0;
    for (i, (name, shape, values)) in tensors.iter().enumerate() {
        if values.len() != shape.iter().product::<usize>() {
            invalid!(
                "safetensors: tensor '{name}' has {} values for shape {shape:?}",
                values.len()
            );
        }
        if tensors[..i].iter().any(|(other, _, _)| other == name) {
            invalid!("safetensors: tensor '{name}' appears twice");
        }
        let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
        let end = offset + 4 * values.len();
        if header.len() > 1 {
            header.push(',');
        }
        header += &format!(
            "{}:{{\"dtype\":\"F32\",\"shape\":[{}],\"data_offsets\":[{offset},{end}]}}",
            quoted(name),
            dims.join(",")
        );
        offset = end;
    }
    header.push('}');
    // The data section starts on an 8-byte boundary, padded with spaces as the format allows.
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for (_, _, values) in tensors {
        out.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    }
    Ok(out)
}

/// `text` as a JSON string.
fn quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out += "\\\"",
            '\\' => out += "\\\\",
            c if (c as u32) < 0x20 => out += &format!("\\u{:04x}", c as u32),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn read_metadata(entry: Json) -> Result<Vec<(String, String)>> {
    let Json::Object(members) = entry else {
        invalid!("safetensors: __metadata__ is not an object");
    };
    members
        .into_iter()
        .map(|(key, value)| match value {
            Json::String(value) => Ok((key, value)),
            _ => invalid!("safetensors: __metadata__ value '{key}' is not a string"),
        })
        .collect()
}

fn read_info(name: &str, entry: &Json, data_len: usize) -> Result<TensorInfo> {
    if !matches!(entry, Json::Object(_)) {
        invalid!("safetensors: entry for tensor '{name}' is not an object");
    }
    let field = |key: &str| match entry.get(key) {
        Some(value) => Ok(value),
        None => Err(Error::Invalid(format!("safetensors: tensor '{name}' has no {key}"))),
    };
    let Some(dtype) = field("dtype")?.as_str() else {
        invalid!("safetensors: tensor '{name}': dtype is not a string");
    };
    let Some(size) = dtype_size(dtype) else {
        invalid!("safetensors: tensor '{name}': unknown dtype {dtype}");
    };
    let shape: Option<Vec<usize>> =
        field("shape")?.as_array().and_then(|dims| dims.iter().map(Json::as_usize).collect());
    let Some(shape) = shape else {
        invalid!("safetensors: tensor '{name}': shape is not an array of non-negative integers");
    };
    let offsets: Option<Vec<usize>> =
        field("data_offsets")?.as_array().and_then(|o| o.iter().map(Json::as_usize).collect());
    let Some(&[start, end]) = offsets.as_deref() else {
        invalid!("safetensors: tensor '{name}': data_offsets is not [start, end]");
    };
    let Some(len) = end.checked_sub(start) else {
        invalid!(
            "safetensors: tensor '{name}': data_offsets [{start}, {end}] end before they start"
        );
    };
    if end > data_len {
        invalid!("safetensors: tensor '{name}' ends at byte {end}, past the {data_len}-byte data");
    }
    let Some(expected) = shape.iter().try_fold(size, |n, &d| n.checked_mul(d)) else {
        invalid!("safetensors: tensor '{name}': shape {shape:?} of {dtype} overflows");
    };
    if len != expected {
        invalid!(
            "safetensors: tensor '{name}': {len} bytes for shape {shape:?} of {dtype}, \
             which needs {expected}"
        );
    }
    Ok(TensorInfo { dtype: dtype.to_string(), shape, start, end })
}

#[cfg(test)]
mod tests {
    use super::{write_f32, SafeTensors};
    use crate::Error;

    /// A file from a header and a data section, byte for byte.
    fn raw(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    /// A valid file: the tensors laid out one after another, with metadata.
    fn write(tensors: &[(&str, &str, &[usize], Vec<u8>)]) -> Vec<u8> {
        let mut entries = vec![r#""__metadata__": {"format": "pt"}"#.to_string()];
        let mut data = Vec::new();
        for (name, dtype, shape, bytes) in tensors {
            let (start, end) = (data.len(), data.len() + bytes.len());
            entries.push(format!(
                r#""{name}": {{"dtype": "{dtype}", "shape": {shape:?}, "data_offsets": [{start}, {end}]}}"#
            ));
            data.extend_from_slice(bytes);
        }
        raw(&format!("{{{}}}", entries.join(", ")), &data)
    }

    /// A file whose one tensor `t` has the header entry `entry`, with `data_len` zero bytes.
    fn one(entry: &str, data_len: usize) -> Vec<u8> {
        raw(&format!(r#"{{"t": {entry}}}"#), &vec![0; data_len])
    }

    /// Asserts `Err(Invalid(..))` with a message that contains every one of `words`.
    fn rejects(result: Result<impl std::fmt::Debug, Error>, words: &[&str]) {
        match result {
            Err(Error::Invalid(message)) => {
                for word in words {
                    assert!(message.contains(word), "{message:?} should mention {word:?}");
                }
            }
            other => panic!("expected Invalid mentioning {words:?}, got {other:?}"),
        }
    }

    fn f32_bytes(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn round_trip() {
        let floats = [1.5, -2.0, -0.0, f32::MIN_POSITIVE, 3.25, f32::MAX];
        let ints = [-1, 0, 7, i64::MAX, i64::MIN];
        let file = write(&[
            ("z", "F32", &[2, 3], f32_bytes(&floats)),
            ("a", "I64", &[5], ints.iter().flat_map(|v| v.to_le_bytes()).collect()),
            ("h", "F16", &[2], vec![0; 4]),
            ("empty", "F32", &[0, 4], vec![]),
        ]);
        let st = SafeTensors::parse(&file).unwrap();
        assert_eq!(st.names().collect::<Vec<_>>(), ["a", "empty", "h", "z"]);
        assert_eq!(st.metadata("format"), Some("pt"));
        assert_eq!(st.metadata("other"), None);
        let z = st.f32("z", &[2, 3]).unwrap();
        assert_eq!(z.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), floats.map(f32::to_bits));
        assert_eq!(st.i64("a", &[5]).unwrap(), ints);
        assert_eq!(st.f32("empty", &[0, 4]).unwrap(), Vec::<f32>::new());
        assert_eq!(st.shape("h").unwrap(), [2]);
        let h = st.info("h").unwrap();
        assert_eq!((h.dtype.as_str(), h.start, h.end), ("F16", 64, 68));
        // Header padding with spaces is allowed; an empty file of tensors too.
        assert_eq!(SafeTensors::parse(&raw("{}   ", &[])).unwrap().names().count(), 0);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn checked_reads() {
        let file = write(&[("w", "F32", &[2, 2], vec![0; 16]), ("h", "F16", &[2], vec![0; 4])]);
        let st = SafeTensors::parse(&file).unwrap();
        rejects(st.f32("w", &[4]), &["'w'", "[4]", "[2, 2]"]);
        rejects(st.i64("w", &[2, 2]), &["'w'", "I64", "F32"]);
        rejects(st.f32("h", &[2]), &["'h'", "F32", "F16"]);
        rejects(st.f32("nope", &[2]), &["'nope'"]);
        rejects(st.info("nope"), &["'nope'"]);
        rejects(st.shape("nope"), &["'nope'"]);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn short_file() {
        rejects(SafeTensors::parse(&[]), &["too short"]);
        rejects(SafeTensors::parse(&[2, 0, 0, 0, 0, 0, 0]), &["too short"]);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn header_length() {
        let with_len = |len: u64| [&len.to_le_bytes()[..], b"{}"].concat();
        rejects(SafeTensors::parse(&with_len(3)), &["runs past"]);
        rejects(SafeTensors::parse(&with_len(100_000_001)), &["100 MB"]);
        rejects(SafeTensors::parse(&with_len(u64::MAX)), &["100 MB"]);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn header_not_a_json_object() {
        let mut not_utf8 = raw("{}", &[]);
        not_utf8[9] = 0xFF;
        rejects(SafeTensors::parse(&not_utf8), &["UTF-8"]);
        rejects(SafeTensors::parse(&raw("{", &[])), &["header", "JSON"]);
        rejects(SafeTensors::parse(&raw("{} x", &[])), &["header", "JSON"]);
        rejects(SafeTensors::parse(&raw("[]", &[])), &["not a JSON object"]);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn entries_missing_or_mistyped() {
        let parse = |entry: &str| SafeTensors::parse(&one(entry, 4)).map(|_| ());
        rejects(parse(r#"{"shape": [1], "data_offsets": [0, 4]}"#), &["'t'", "no dtype"]);
        rejects(parse(r#"{"dtype": "F32", "data_offsets": [0, 4]}"#), &["'t'", "no shape"]);
        rejects(parse(r#"{"dtype": "F32", "shape": [1]}"#), &["'t'", "no data_offsets"]);
        rejects(parse("[1]"), &["'t'", "not an object"]);
        rejects(parse(r#"{"dtype": 32, "shape": [1], "data_offsets": [0, 4]}"#), &["dtype"]);
        for shape in [r#""1""#, "[-1]", "[1.5]", r#"["1"]"#, "1"] {
            let entry = format!(r#"{{"dtype": "F32", "shape": {shape}, "data_offsets": [0, 4]}}"#);
            rejects(parse(&entry), &["'t'", "shape"]);
        }
        for offsets in ["[0]", "[0, 4, 4]", r#""0, 4""#, "[0, -4]", "[0, 4.5]", "{}"] {
            let entry = format!(r#"{{"dtype": "F32", "shape": [1], "data_offsets": {offsets}}}"#);
            rejects(parse(&entry), &["'t'", "data_offsets"]);
        }
        let meta = |m: &str| {
            SafeTensors::parse(&raw(&format!(r#"{{"__metadata__": {m}}}"#), &[])).map(|_| ())
        };
        rejects(meta(r#"{"a": 1}"#), &["__metadata__", "'a'"]);
        rejects(meta(r#"["a"]"#), &["__metadata__"]);
        assert!(meta(r#"{"a": "b"}"#).is_ok());
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn dtypes() {
        rejects(
            SafeTensors::parse(&one(
                r#"{"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}"#,
                4,
            )),
            &["'t'", "unknown dtype F33"],
        );
        for (dtype, size) in
            [("F16", 2), ("BF16", 2), ("I32", 4), ("U8", 1), ("BOOL", 1), ("F64", 8)]
        {
            let file = write(&[("t", dtype, &[3], vec![0; 3 * size])]);
            let st = SafeTensors::parse(&file).unwrap();
            rejects(st.f32("t", &[3]), &["'t'", "F32", dtype]);
            rejects(st.i64("t", &[3]), &["'t'", "I64", dtype]);
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn shape_overflow() {
        // Each dimension fits a usize on wasm32 too; their product fits on neither.
        let big = u32::MAX;
        let entry =
            format!(r#"{{"dtype": "U8", "shape": [{big}, {big}, {big}], "data_offsets": [0, 4]}}"#);
        rejects(SafeTensors::parse(&one(&entry, 4)), &["'t'", "overflows"]);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn offsets_reversed() {
        let entry = r#"{"dtype": "F32", "shape": [0], "data_offsets": [4, 0]}"#;
        rejects(SafeTensors::parse(&one(entry, 4)), &["'t'", "[4, 0]"]);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn end_past_data() {
        let entry = r#"{"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}"#;
        rejects(SafeTensors::parse(&one(entry, 4)), &["'t'", "ends at byte 8", "4-byte"]);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn length_mismatch() {
        let entry = r#"{"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}"#;
        rejects(SafeTensors::parse(&one(entry, 12)), &["'t'", "12 bytes", "needs 16"]);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn data_not_tiled() {
        let two = |a: [usize; 2], b: [usize; 2], len: usize| {
            let entry = |[s, e]: [usize; 2]| {
                format!(r#"{{"dtype": "U8", "shape": [{}], "data_offsets": [{s}, {e}]}}"#, e - s)
            };
            let header = format!(r#"{{"a": {}, "b": {}}}"#, entry(a), entry(b));
            SafeTensors::parse(&raw(&header, &vec![0; len])).map(|_| ())
        };
        assert!(two([0, 4], [4, 8], 8).is_ok());
        assert!(two([4, 8], [0, 4], 8).is_ok());
        rejects(two([0, 4], [2, 8], 8), &["'b'", "overlaps"]);
        rejects(two([0, 4], [0, 4], 4), &["overlaps"]);
        rejects(two([0, 4], [6, 8], 8), &["bytes 4..6", "'b'", "no tensor"]);
        rejects(two([2, 4], [4, 8], 8), &["bytes 0..2", "'a'"]);
        rejects(two([0, 4], [4, 8], 10), &["cover 8 of the 10"]);
        rejects(SafeTensors::parse(&raw("{}", &[0])), &["cover 0 of the 1"]);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn duplicate_name() {
        let entry = r#"{"dtype": "U8", "shape": [0], "data_offsets": [0, 0]}"#;
        let header = format!(r#"{{"t": {entry}, "t": {entry}}}"#);
        rejects(SafeTensors::parse(&raw(&header, &[])), &["'t'", "twice"]);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn gan_fixture() {
        let st = SafeTensors::parse(include_bytes!("../../tests/fixtures/gan_mnist.safetensors"))
            .unwrap();
        let z = st.f32("z", &[8, 64]).unwrap();
        assert!(z.iter().all(|v| v.is_finite()) && z.iter().any(|&v| v != 0.0));
        assert_eq!(st.info("z").unwrap().dtype, "F32");
        assert_eq!(st.i64("labels", &[8]).unwrap(), [0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(st.shape("images").unwrap(), [8, 1, 28, 28]);
        assert_eq!(st.metadata("weights"), Some("www/models/gan_mnist.safetensors"));
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn written_files_read_back() {
        let (a, b) = ([1.5f32, -2.0, 3.25, f32::MIN_POSITIVE, 7.0, -0.0], [9.0f32]);
        let bytes = write_f32(
            &[("net.0.weight", &[2, 3], &a), ("odd \"name\"\\", &[1], &b), ("empty", &[0, 4], &[])],
            &[("format", "pt"), ("note", "line\nbreak")],
        )
        .unwrap();
        let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!((8 + header_len) % 8, 0, "the data starts on an 8-byte boundary");
        let st = SafeTensors::parse(&bytes).unwrap();
        assert_eq!(st.f32("net.0.weight", &[2, 3]).unwrap(), a);
        assert_eq!(st.f32("odd \"name\"\\", &[1]).unwrap(), b);
        assert_eq!(st.f32("empty", &[0, 4]).unwrap(), Vec::<f32>::new());
        assert_eq!(st.metadata("note"), Some("line\nbreak"));
        assert_eq!(st.names().count(), 3);
        rejects(write_f32(&[("t", &[2, 2], &a)], &[]), &["'t'", "6 values", "[2, 2]"]);
        rejects(write_f32(&[("t", &[1], &b), ("t", &[1], &b)], &[]), &["'t'", "twice"]);
    }
}
