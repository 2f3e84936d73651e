// out = x w^T for x [m, k] in f32 and a quantized w [n, k], without a dequantized copy of w.
// Prefixed with the block format's functions (q4_1.wgsl or q8_0.wgsl): binding 2 `w`,
// BLOCK_WORDS, block_scale and block_code, rows of k / 32 blocks. Thread (col, row group) dots
// weight row col with up to ROWS rows of x, unpacking each block once for all of them; per block
// it adds d * (x . q) + m * sum(x).

struct Params {
    m: u32,
    n: u32,
    k: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const ROWS: u32 = 8u;

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
    var q: array<f32, 32>;
    for (var b = 0u; b < blocks; b++) {
        let base = (col * blocks + b) * BLOCK_WORDS;
        let dm = block_scale(base);
        for (var e = 0u; e < 32u; e++) {
            q[e] = block_code(base, e);
        }
        for (var r = 0u; r < rows; r++) {
            let xb = (row0 + r) * p.k + b * 32u;
            var dot = 0.0;
            var sum = 0.0;
            for (var e = 0u; e < 32u; e++) {
                let xv = x[xb + e];
                dot = fma(xv, q[e], dot);
                sum += xv;
            }
            acc[r] = fma(dm.x, dot, fma(dm.y, sum, acc[r]));
        }
    }
    for (var r = 0u; r < rows; r++) {
        out[(row0 + r) * p.n + col] = acc[r];
    }
}
