//! Every kernel's uniform struct as naga reads it from the WGSL, against the Rust `Params` its
//! dispatch fills: the same fields, in the same order, at the same offsets, and the same size
//! (once padded to 16 bytes, as uploaded), so that the two copies of each layout cannot drift
//! apart. Natively, every compute entry point in `shaders/` must also be in the list.

use super::*;
use crate::gpu::{Kernel, Params};

/// What the test needs of one kernel.
struct Layout {
    name: &'static str,
    source: &'static str,
    entry: &'static str,
    fields: &'static [(&'static str, usize)],
    size: usize,
}

fn layout<P: Params>(kernel: &Kernel<P>) -> Layout {
    let (name, source, entry) = (kernel.name, kernel.source, kernel.entry);
    Layout { name, source, entry, fields: P::FIELDS, size: std::mem::size_of::<P>() }
}

fn every_kernel() -> Vec<Layout> {
    vec![
        layout(&activation::KERNEL),
        layout(&activation::BACKWARD),
        layout(&activation::GLU),
        layout(&attention::ATTENTION),
        layout(&attention::COMBINE),
        layout(&binary::KERNEL),
        layout(&codebook::NEAREST),
        layout(&codebook::LOOKUP),
        layout(&conv::DIRECT[0]),
        layout(&conv::DIRECT[1]),
        layout(&conv::TRANSPOSED[0]),
        layout(&conv::TRANSPOSED[1]),
        layout(&conv_backward::WEIGHT_GRAD),
        layout(&conv_backward::BIAS_GRAD),
        layout(&denoise::KERNEL),
        layout(&embedding::KERNEL),
        layout(&latent::SAMPLE),
        layout(&latent::BACKWARD),
        layout(&loss::BCE_WITH_LOGITS),
        layout(&matmul::TILED),
        layout(&matmul::TILED_SHORT),
        layout(&matmul::NAIVE),
        layout(&matmul::ROWS),
        layout(&matmul::VECTOR),
        layout(&norm::ROW_NORM),
        layout(&norm::GROUP_NORM),
        layout(&norm::BATCH_NORM),
        layout(&batch_norm_train::FORWARD),
        layout(&batch_norm_train::BACKWARD),
        layout(&quant::MATMUL_Q4_1),
        layout(&quant::MATMUL_Q8_0),
        layout(&quant::DEQUANTIZE_Q4_1),
        layout(&quant::DEQUANTIZE_Q8_0),
        layout(&rope::ROPE),
        layout(&rope::ROPE_QKV),
        layout(&softmax::KERNEL),
        layout(&topk::KERNEL),
        layout(&crate::train::adam::KERNEL),
    ]
}

/// The fields (name, offset) and size of the uniform struct at `@group(0) @binding(0)` of
/// `source`, whose compute entry point `entry` must exist.
fn wgsl_uniform(
    source: &str,
    entry: &str,
) -> std::result::Result<(Vec<(String, usize)>, usize), String> {
    let module = naga::front::wgsl::parse_str(source).map_err(|e| e.emit_to_string(source))?;
    let has_entry = module
        .entry_points
        .iter()
        .any(|e| e.name == entry && e.stage == naga::ShaderStage::Compute);
    if !has_entry {
        return Err(format!("no compute entry point '{entry}'"));
    }
    let binding = naga::ResourceBinding { group: 0, binding: 0 };
    let (_, var) = module
        .global_variables
        .iter()
        .find(|(_, v)| v.binding == Some(binding))
        .ok_or("nothing at @group(0) @binding(0)")?;
    if var.space != naga::AddressSpace::Uniform {
        return Err(format!("@binding(0) is {:?}, not a uniform", var.space));
    }
    match &module.types[var.ty].inner {
        naga::TypeInner::Struct { members, span } => Ok((
            members
                .iter()
                .map(|m| (m.name.clone().unwrap_or_default(), m.offset as usize))
                .collect(),
            *span as usize,
        )),
        other => Err(format!("@binding(0) is a {other:?}, not a struct")),
    }
}

/// Why `layout`'s Rust struct and its WGSL one differ, if they do.
fn mismatch(layout: &Layout) -> Option<String> {
    let (fields, size) = match wgsl_uniform(layout.source, layout.entry) {
        Ok(found) => found,
        Err(e) => return Some(e),
    };
    let rust: Vec<(String, usize)> =
        layout.fields.iter().map(|&(name, offset)| (name.to_string(), offset)).collect();
    // The dispatch uploads the struct padded to a multiple of 16 bytes, as WGSL rounds a struct
    // holding vectors up to their alignment.
    if rust != fields || layout.size.div_ceil(16) * 16 != size.div_ceil(16) * 16 {
        return Some(format!(
            "WGSL {fields:?} in {size} bytes, Rust {rust:?} in {} bytes",
            layout.size
        ));
    }
    None
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_kernel_reads_the_parameters_its_dispatch_writes() {
    let kernels = every_kernel();
    let wrong: Vec<String> = kernels
        .iter()
        .filter_map(|k| mismatch(k).map(|why| format!("{}: {why}", k.name)))
        .collect();
    assert!(wrong.is_empty(), "uniform layouts differ:\n{}", wrong.join("\n"));

    // The check sees a difference: two fields swapped, or one missing.
    const WGSL: &str = "struct P { a: u32, b: f32 }\n@group(0) @binding(0) var<uniform> p: P;\n\
        @compute @workgroup_size(1) fn main() { _ = p.a; }";
    let fake = |fields, size| Layout { name: "fake", source: WGSL, entry: "main", fields, size };
    assert_eq!(mismatch(&fake(&[("a", 0), ("b", 4)], 8)), None);
    assert!(mismatch(&fake(&[("b", 0), ("a", 4)], 8)).is_some());
    assert!(mismatch(&fake(&[("a", 0)], 4)).is_some());
    assert!(mismatch(&fake(&[("a", 0), ("b", 4)], 20)).is_some());
    assert!(mismatch(&Layout { entry: "other", ..fake(&[("a", 0), ("b", 4)], 8) }).is_some());

    // Natively, where `shaders/` can be read: every compute entry point is in the list.
    #[cfg(not(target_arch = "wasm32"))]
    for file in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders")).unwrap() {
        let path = file.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        for after in text.split("@compute").skip(1) {
            let entry = after.split("fn ").nth(1).unwrap().split('(').next().unwrap().trim();
            let kernel = format!("{name}::{entry}");
            let listed = kernels
                .iter()
                .any(|k| k.name == kernel || k.name.starts_with(&format!("{kernel}+")));
            assert!(listed, "{name}'s entry point {entry} is not in every_kernel()");
        }
    }
}
