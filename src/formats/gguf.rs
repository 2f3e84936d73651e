//! GGUF, llama.cpp's model file: a header, typed metadata (architecture, hyperparameters, the
//! tokenizer's vocabulary and merges, the chat template), a directory of tensors, then their
//! data, aligned. Every count, size, type and offset is checked against the bytes that are
//! really there before anything is allocated or read, so a bad file is an error, not a panic.

use half::f16;

use crate::error::invalid;
use crate::{Error, Result};

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml tensors have at most four dimensions.
const MAX_DIMS: u32 = 4;
/// Nesting of arrays in metadata; real files use one level.
const MAX_ARRAY_DEPTH: u32 = 2;

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(Vec<Value>),
}

impl Value {
    /// Any non-negative integer type as a u64.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }
}

/// The ggml element types this crate reads: plain floats and the block-quantized types that
/// keep one or two f16 scales per block of 32 weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q8_0,
}

impl GgmlType {
    fn from_id(id: u32) -> Option<GgmlType> {
        Some(match id {
            0 => GgmlType::F32,
            1 => GgmlType::F16,
            2 => GgmlType::Q4_0,
            3 => GgmlType::Q4_1,
            8 => GgmlType::Q8_0,
            _ => return None,
        })
    }

    /// Weights per block, and bytes per block.
    pub fn block(self) -> (usize, usize) {
        match self {
            GgmlType::F32 => (1, 4),
            GgmlType::F16 => (1, 2),
            GgmlType::Q4_0 => (32, 18),
            GgmlType::Q4_1 => (32, 20),
            GgmlType::Q8_0 => (32, 34),
        }
    }
}

/// One tensor of the directory. `shape` is row-major (PyTorch's order: ggml's `ne` reversed),
/// so a linear layer's weight is `[out, in]` with whole blocks along `in`.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub shape: Vec<usize>,
    pub ty: GgmlType,
    /// Byte range in the data section.
    pub start: usize,
    pub end: usize,
}

#[derive(Debug)]
pub struct Gguf<'a> {
    pub version: u32,
    metadata: Vec<(String, Value)>,
    tensors: Vec<TensorInfo>,
    data: &'a [u8],
}

/// A cursor that refuses to read past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8]> {
        let left = self.bytes.len() - self.at;
        match usize::try_from(n).ok().filter(|&n| n <= left) {
            Some(n) => {
                self.at += n;
                Ok(&self.bytes[self.at - n..self.at])
            }
            None => invalid!("gguf: {what} of {n} bytes at byte {} runs past the end", self.at),
        }
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let bytes = self.take(N as u64, what)?;
        Ok(bytes.try_into().unwrap_or([0; N]))
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        self.array(what).map(u64::from_le_bytes)
    }

    fn string(&mut self, what: &str) -> Result<String> {
        let len = self.u64(what)?;
        let bytes = self.take(len, what)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_string()),
            Err(_) => invalid!("gguf: {what} at byte {} is not UTF-8", self.at - bytes.len()),
        }
    }

    /// Refuses `count` items of at least `min_size` bytes each when the rest of the file
    /// cannot hold them, so a hostile count cannot make us allocate.
    fn expect_room(&self, count: u64, min_size: u64, what: &str) -> Result<usize> {
        let left = (self.bytes.len() - self.at) as u64;
        match count.checked_mul(min_size).filter(|&need| need <= left) {
            Some(_) => Ok(count as usize),
            None => invalid!("gguf: {count} {what} cannot fit in the {left} bytes left"),
        }
    }

    fn value(&mut self, ty: u32, key: &str, depth: u32) -> Result<Value> {
        Ok(match ty {
            0 => Value::U8(u8::from_le_bytes(self.array(key)?)),
            1 => Value::I8(i8::from_le_bytes(self.array(key)?)),
            2 => Value::U16(u16::from_le_bytes(self.array(key)?)),
            3 => Value::I16(i16::from_le_bytes(self.array(key)?)),
            4 => Value::U32(self.u32(key)?),
            5 => Value::I32(i32::from_le_bytes(self.array(key)?)),
            6 => Value::F32(f32::from_le_bytes(self.array(key)?)),
            7 => match self.array::<1>(key)? {
                [0] => Value::Bool(false),
                [1] => Value::Bool(true),
                [b] => invalid!("gguf: metadata '{key}' is a bool of value {b}"),
            },
            8 => Value::String(self.string(key)?),
            9 if depth < MAX_ARRAY_DEPTH => {
                let item_ty = self.u32(key)?;
                let count = self.u64(key)?;
                // Every item takes at least one byte (a string at least its 8-byte length).
                let min_size = if item_ty == 8 { 8 } else { 1 };
                let count = self.expect_room(count, min_size, &format!("items of '{key}'"))?;
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    items.push(self.value(item_ty, key, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64(key)?),
            11 => Value::I64(i64::from_le_bytes(self.array(key)?)),
            12 => Value::F64(f64::from_le_bytes(self.array(key)?)),
            _ => invalid!("gguf: metadata '{key}' has unknown or too deeply nested type {ty}"),
        })
    }
}

impl<'a> Gguf<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Gguf<'a>> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(4, "magic").ok() != Some(MAGIC.as_slice()) {
            invalid!("gguf: the file does not start with 'GGUF'");
        }
        let version = r.u32("version")?;
        if !(2..=3).contains(&version) {
            invalid!("gguf: version {version} is not supported (2 and 3 are)");
        }
        let n_tensors = r.u64("tensor count")?;
        let n_metadata = r.u64("metadata count")?;
        // A key-value pair takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor entry
        // 8 (name length) + 4 (dims) + 4 (type) + 8 (offset).
        let n_metadata = r.expect_room(n_metadata, 13, "metadata entries")?;
        let mut metadata: Vec<(String, Value)> = Vec::with_capacity(n_metadata);
        for _ in 0..n_metadata {
            let key = r.string("metadata key")?;
            let ty = r.u32(&key)?;
            let value = r.value(ty, &key, 0)?;
            if metadata.iter().any(|(k, _)| *k == key) {
                invalid!("gguf: metadata '{key}' appears twice");
            }
            metadata.push((key, value));
        }
        let alignment = match metadata.iter().find(|(k, _)| k == "general.alignment") {
            Some((_, Value::U32(a))) if a.is_power_of_two() => u64::from(*a),
            Some((_, v)) => invalid!("gguf: general.alignment {v:?} is not a power of two"),
            None => DEFAULT_ALIGNMENT,
        };

        let n_tensors = r.expect_room(n_tensors, 24, "tensor entries")?;
        let mut entries = Vec::with_capacity(n_tensors);
        for _ in 0..n_tensors {
            let name = r.string("tensor name")?;
            let n_dims = r.u32(&name)?;
            if n_dims == 0 || n_dims > MAX_DIMS {
                invalid!("gguf: tensor '{name}' has {n_dims} dimensions (1 to {MAX_DIMS} allowed)");
            }
            let mut ne = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                ne.push(r.u64(&name)?);
            }
            let ty_id = r.u32(&name)?;
            let Some(ty) = GgmlType::from_id(ty_id) else {
                invalid!("gguf: tensor '{name}' has ggml type {ty_id}, which is not supported");
            };
            let offset = r.u64(&name)?;
            entries.push((name, ne, ty, offset));
        }
        let data_start = (r.at as u64).next_multiple_of(alignment);
        let Some(data) = usize::try_from(data_start).ok().and_then(|s| bytes.get(s..)) else {
            invalid!("gguf: the data section at byte {data_start} is past the end of the file");
        };

        let mut tensors: Vec<TensorInfo> = Vec::with_capacity(entries.len());
        for (name, ne, ty, offset) in entries {
            let info = tensor_info(name, &ne, ty, offset, alignment, data.len())?;
            if tensors.iter().any(|t| t.name == info.name) {
                invalid!("gguf: tensor '{}' appears twice", info.name);
            }
            tensors.push(info);
        }
        let mut ranges: Vec<(usize, usize, &str)> =
            tensors.iter().map(|t| (t.start, t.end, t.name.as_str())).collect();
        ranges.sort_unstable();
        for pair in ranges.windows(2) {
            if pair[1].0 < pair[0].1 {
                invalid!("gguf: tensors '{}' and '{}' overlap", pair[0].2, pair[1].2);
            }
        }
        Ok(Gguf { version, metadata, tensors, data })
    }

    /// Metadata keys with their values, in file order.
    pub fn metadata(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.metadata.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A required unsigned integer, as usize.
    pub fn usize(&self, key: &str) -> Result<usize> {
        match self.get(key).and_then(Value::as_u64).and_then(|v| usize::try_from(v).ok()) {
            Some(v) => Ok(v),
            None => invalid!("gguf: no unsigned integer '{key}' in the metadata"),
        }
    }

    /// A required float.
    pub fn f32(&self, key: &str) -> Result<f32> {
        match self.get(key).and_then(Value::as_f64) {
            Some(v) => Ok(v as f32),
            None => invalid!("gguf: no number '{key}' in the metadata"),
        }
    }

    /// A required string.
    pub fn str(&self, key: &str) -> Result<&str> {
        match self.get(key).and_then(Value::as_str) {
            Some(v) => Ok(v),
            None => invalid!("gguf: no string '{key}' in the metadata"),
        }
    }

    /// Tensors in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    pub fn tensor(&self, name: &str) -> Result<&TensorInfo> {
        match self.tensors.iter().find(|t| t.name == name) {
            Some(t) => Ok(t),
            None => invalid!("gguf: no tensor '{name}'"),
        }
    }

    /// The raw bytes of `name`, after checking its shape.
    pub fn data(&self, name: &str, shape: &[usize]) -> Result<(&TensorInfo, &'a [u8])> {
        let t = self.tensor(name)?;
        if t.shape != shape {
            invalid!("gguf: tensor '{name}' is {:?}, expected {shape:?}", t.shape);
        }
        Ok((t, &self.data[t.start..t.end]))
    }
}

/// Checks one directory entry against the data section and works out its byte range.
fn tensor_info(
    name: String,
    ne: &[u64],
    ty: GgmlType,
    offset: u64,
    alignment: u64,
    data_len: usize,
) -> Result<TensorInfo> {
    let (block, block_bytes) = ty.block();
    let shape: Option<Vec<usize>> = ne.iter().rev().map(|&d| usize::try_from(d).ok()).collect();
    let Some(shape) = shape.filter(|s| !s.contains(&0)) else {
        invalid!("gguf: tensor '{name}' has dimensions {ne:?}");
    };
    if !ne[0].is_multiple_of(block as u64) {
        invalid!("gguf: tensor '{name}' rows of {} are not whole {ty:?} blocks of {block}", ne[0]);
    }
    if !offset.is_multiple_of(alignment) {
        invalid!("gguf: tensor '{name}' at offset {offset} is not aligned to {alignment}");
    }
    let size = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .and_then(|n| (n / block).checked_mul(block_bytes));
    let range = size.and_then(|size| {
        let start = usize::try_from(offset).ok()?;
        Some((start, start.checked_add(size)?))
    });
    match range {
        Some((start, end)) if end <= data_len => Ok(TensorInfo { name, shape, ty, start, end }),
        _ => invalid!("gguf: tensor '{name}' {ne:?} at offset {offset} runs past the data section"),
    }
}

/// Weights of `ty` as f32, in order: the reference the GPU kernels that read quantized blocks
/// are tested against.
pub fn dequantize(ty: GgmlType, bytes: &[u8]) -> Result<Vec<f32>> {
    let (block, block_bytes) = ty.block();
    if !bytes.len().is_multiple_of(block_bytes) {
        return Err(Error::Invalid(format!(
            "{} bytes are not whole {ty:?} blocks of {block_bytes}",
            bytes.len()
        )));
    }
    let half = |b: &[u8], i: usize| f16::from_le_bytes([b[i], b[i + 1]]).to_f32();
    let mut out = Vec::with_capacity(bytes.len() / block_bytes * block);
    for b in bytes.chunks_exact(block_bytes) {
        match ty {
            GgmlType::F32 => out.push(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            GgmlType::F16 => out.push(half(b, 0)),
            // Low nibbles are weights 0..16, high nibbles 16..32.
            GgmlType::Q4_0 => {
                let d = half(b, 0);
                out.extend(b[2..].iter().map(|q| ((q & 15) as f32 - 8.0) * d));
                out.extend(b[2..].iter().map(|q| ((q >> 4) as f32 - 8.0) * d));
            }
            GgmlType::Q4_1 => {
                let (d, m) = (half(b, 0), half(b, 2));
                out.extend(b[4..].iter().map(|q| (q & 15) as f32 * d + m));
                out.extend(b[4..].iter().map(|q| (q >> 4) as f32 * d + m));
            }
            GgmlType::Q8_0 => {
                let d = half(b, 0);
                out.extend(b[2..].iter().map(|&q| q as i8 as f32 * d));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a GGUF file: metadata as (key, type id, value bytes), tensors as (name, ne, type
    /// id, offset), then `data` at the 32-byte aligned data section.
    fn gguf(
        metadata: &[(&str, u32, Vec<u8>)],
        tensors: &[(&str, &[u64], u32, u64)],
        data: &[u8],
    ) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend(3u32.to_le_bytes());
        out.extend((tensors.len() as u64).to_le_bytes());
        out.extend((metadata.len() as u64).to_le_bytes());
        for (key, ty, value) in metadata {
            out.extend(string(key));
            out.extend(ty.to_le_bytes());
            out.extend(value);
        }
        for (name, ne, ty, offset) in tensors {
            out.extend(string(name));
            out.extend((ne.len() as u32).to_le_bytes());
            ne.iter().for_each(|d| out.extend(d.to_le_bytes()));
            out.extend(ty.to_le_bytes());
            out.extend(offset.to_le_bytes());
        }
        out.resize(out.len().next_multiple_of(32), 0);
        out.extend(data);
        out
    }

    fn string(s: &str) -> Vec<u8> {
        let mut out = (s.len() as u64).to_le_bytes().to_vec();
        out.extend(s.as_bytes());
        out
    }

    fn f16(x: f32) -> [u8; 2] {
        half::f16::from_f32(x).to_le_bytes()
    }

    /// One Q4_1 block: scale 0.5, minimum -2, nibbles 0..16 low and 15..0 high.
    fn q4_1_block() -> Vec<u8> {
        let mut b = f16(0.5).to_vec();
        b.extend(f16(-2.0));
        b.extend((0..16u8).map(|i| i | ((15 - i) << 4)));
        b
    }

    fn sample() -> Vec<u8> {
        let tokens: Vec<u8> =
            [8u32.to_le_bytes().to_vec(), 2u64.to_le_bytes().to_vec(), string("a"), string("<s>")]
                .concat();
        let mut data = q4_1_block();
        data.extend(q4_1_block());
        data.resize(64, 0);
        data.extend([1.5f32, -2.0].iter().flat_map(|x| x.to_le_bytes()));
        gguf(
            &[
                ("general.architecture", 8, string("llama")),
                ("llama.block_count", 4, 30u32.to_le_bytes().to_vec()),
                ("llama.rope.freq_base", 6, 10000f32.to_le_bytes().to_vec()),
                ("tokenizer.ggml.tokens", 9, tokens),
                ("tokenizer.ggml.add_bos_token", 7, vec![1]),
            ],
            &[("blk.0.w", &[32, 2], 3, 0), ("norm", &[2], 0, 64)],
            &data,
        )
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn reads_metadata_tensors_and_blocks() {
        let bytes = sample();
        let g = Gguf::parse(&bytes).unwrap();
        assert_eq!(g.version, 3);
        assert_eq!(g.str("general.architecture").unwrap(), "llama");
        assert_eq!(g.usize("llama.block_count").unwrap(), 30);
        assert_eq!(g.f32("llama.rope.freq_base").unwrap(), 10000.0);
        assert_eq!(g.get("tokenizer.ggml.add_bos_token"), Some(&Value::Bool(true)));
        let tokens: Vec<&str> = g
            .get("tokenizer.ggml.tokens")
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(tokens, ["a", "<s>"]);
        let (info, w) = g.data("blk.0.w", &[2, 32]).unwrap();
        assert_eq!(info.ty, GgmlType::Q4_1);
        let values = dequantize(info.ty, w).unwrap();
        let want: Vec<f32> = (0..16).chain((0..16).rev()).map(|q| q as f32 * 0.5 - 2.0).collect();
        assert_eq!(values[..32], want[..]);
        assert_eq!(values[32..], want[..]);
        let (_, norm) = g.data("norm", &[2]).unwrap();
        assert_eq!(dequantize(GgmlType::F32, norm).unwrap(), [1.5, -2.0]);
        assert!(g.data("norm", &[1, 2]).is_err() && g.tensor("missing").is_err());
        assert!(g.usize("general.architecture").is_err() && g.str("llama.block_count").is_err());
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn other_block_types() {
        let mut q8 = f16(0.25).to_vec();
        q8.extend((0..32).map(|i| (i as i8 - 16) as u8));
        let want: Vec<f32> = (0..32).map(|i| (i - 16) as f32 * 0.25).collect();
        assert_eq!(dequantize(GgmlType::Q8_0, &q8).unwrap(), want);
        let mut q4 = f16(2.0).to_vec();
        q4.extend((0..16u8).map(|i| i | (i << 4)));
        let want: Vec<f32> = (0..32).map(|i| ((i % 16) as f32 - 8.0) * 2.0).collect();
        assert_eq!(dequantize(GgmlType::Q4_0, &q4).unwrap(), want);
        assert_eq!(dequantize(GgmlType::F16, &[0x00, 0x3c, 0x00, 0xc0]).unwrap(), [1.0, -2.0]);
        assert!(dequantize(GgmlType::Q4_1, &[0; 21]).is_err());
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn every_truncation_and_corruption_is_an_error() {
        let bytes = sample();
        // Cut anywhere: an error, never a panic.
        for len in 0..bytes.len() {
            let r = Gguf::parse(&bytes[..len]);
            assert!(matches!(r, Err(Error::Invalid(_))), "truncated to {len} of {}", bytes.len());
        }
        let corrupt = |at: usize, value: &[u8]| {
            let mut b = bytes.clone();
            b[at..at + value.len()].copy_from_slice(value);
            Gguf::parse(&b).map(drop)
        };
        #[track_caller]
        fn invalid(r: Result<()>) {
            assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
        }
        invalid(corrupt(0, b"GGUG"));
        invalid(corrupt(4, &1u32.to_le_bytes()));
        invalid(corrupt(8, &u64::MAX.to_le_bytes()));
        invalid(corrupt(16, &(1u64 << 40).to_le_bytes()));
        let tensors_at = |name: &str| {
            bytes.windows(name.len()).position(|w| w == name.as_bytes()).unwrap() + name.len()
        };
        let w = tensors_at("blk.0.w");
        invalid(corrupt(w, &5u32.to_le_bytes()));
        invalid(corrupt(w + 4, &33u64.to_le_bytes()));
        invalid(corrupt(w + 4, &0u64.to_le_bytes()));
        invalid(corrupt(w + 20, &14u32.to_le_bytes()));
        invalid(corrupt(w + 24, &8u64.to_le_bytes()));
        invalid(corrupt(w + 24, &64u64.to_le_bytes()));
        invalid(corrupt(tensors_at("norm") + 16, &(u64::MAX - 31).to_le_bytes()));
        invalid(corrupt(tensors_at("add_bos_token") + 4, &[2]));
        invalid(corrupt(tensors_at("tokenizer.ggml.tokens"), &13u32.to_le_bytes()));
        invalid(corrupt(tensors_at("tokenizer.ggml.tokens") + 8, &u64::MAX.to_le_bytes()));
        invalid(corrupt(tensors_at("architecture") + 12, &[0xff]));
        let floats = [0u8; 128];
        let same_name = gguf(&[], &[("a", &[2], 0, 0), ("a", &[2], 0, 32)], &floats);
        invalid(Gguf::parse(&same_name).map(drop));
        let overlap = gguf(&[], &[("a", &[16], 0, 0), ("b", &[2], 0, 32)], &floats);
        invalid(Gguf::parse(&overlap).map(drop));
        assert!(Gguf::parse(&gguf(&[], &[("a", &[8], 0, 0), ("b", &[2], 0, 32)], &floats)).is_ok());
        let twice = gguf(&[("k", 4, vec![0; 4]), ("k", 4, vec![0; 4])], &[], &[]);
        invalid(Gguf::parse(&twice).map(drop));
        let align = gguf(&[("general.alignment", 4, 24u32.to_le_bytes().to_vec())], &[], &[]);
        invalid(Gguf::parse(&align).map(drop));
    }
}
