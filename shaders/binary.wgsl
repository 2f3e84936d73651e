// Element-wise a + b or a * b (p.op 0 or 1) with NumPy broadcasting, up to rank 4.
// Shapes are right-aligned into 4 dimensions (missing leading ones are 1): out[i] is at the
// coordinates of i in p.out_shape, and a and b are read through strides that are 0 along the
// dimensions they are broadcast in. One thread per output element, in 64-wide workgroups that
// wrap into y past 65535 of them.

struct Params {
    out_shape: vec4<u32>,
    a_strides: vec4<u32>,
    b_strides: vec4<u32>,
    len: u32,
    op: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const WORKGROUP_SIZE: u32 = 64u;

@compute @workgroup_size(64, 1, 1)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
    if (i >= p.len) {
        return;
    }
    var rest = i;
    var ai = 0u;
    var bi = 0u;
    for (var k = 3; k >= 0; k--) {
        let coord = rest % p.out_shape[k];
        rest /= p.out_shape[k];
        ai += coord * p.a_strides[k];
        bi += coord * p.b_strides[k];
    }
    let av = a[ai];
    let bv = b[bi];
    out[i] = select(av + bv, av * bv, p.op == 1u);
}
