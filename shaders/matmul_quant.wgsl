// out = x w^T for x [m, k] in f32 and a quantized w [n, k], without a dequantized copy of w.
// Prefixed with the block format's functions (q4_1.wgsl or q8_0.wgsl): binding 2 `w`,
// BLOCK_WORDS, block_scale and block_codes, over rows of k / 32 blocks. Thread (col, row group)
// dots weight row col with up to ROWS rows of x; per block it adds d * (x . q) + m * sum(x).

struct Params {
    m: u32,
    n: u32,
    k: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const ROWS: u32 = 8u;

// (x . q, sum of x) over the block at word `base` and x[xb..xb + 32].
fn block_dot(base: u32, xb: u32) -> vec2<f32> {
    var qx = 0.0;
    var sum = vec4<f32>();
    for (var g = 0u; g < 8u; g++) {
        let i = xb + 4u * g;
        let xs = vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
        qx += dot(xs, block_codes(base, g));
        sum += xs;
    }
    return vec2<f32>(qx, dot(sum, vec4<f32>(1.0)));
}

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let col = id.x;
    let row0 = id.y * ROWS;
    if (col >= p.n || row0 >= p.m) {
        return;
    }
    let rows = min(ROWS, p.m - row0);
    let blocks = p.k / 32u;
    var acc: array<f32, ROWS>;
    for (var b = 0u; b < blocks; b++) {
        let base = (col * blocks + b) * BLOCK_WORDS;
        let dm = block_scale(base);
        for (var r = 0u; r < ROWS; r++) {
            if (r < rows) {
                let s = block_dot(base, (row0 + r) * p.k + b * 32u);
                acc[r] = fma(dm.x, s.x, fma(dm.y, s.y, acc[r]));
            }
        }
    }
    for (var r = 0u; r < rows; r++) {
        out[(row0 + r) * p.n + col] = acc[r];
    }
}
