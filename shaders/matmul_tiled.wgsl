// C[batch] = A[batch] x B[batch] (+ bias), tiled through workgroup memory.
// A is M x K; B is K x N, or N x K when transposed (a PyTorch Linear weight); C is M x N.
// Each workgroup computes a 64 x 64 tile of C, each of its 16 x 16 threads a 4 x 4 block,
// strided by 16 so that neighbouring threads touch neighbouring tile columns.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    a_batch_stride: u32,
    b_batch_stride: u32, // 0 when one B is shared by every batch
    b_transposed: u32,
    has_bias: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

const TILE_MN: u32 = 64u;
const TILE_K: u32 = 16u;
const THREADS: u32 = 256u;
const PER_THREAD: u32 = 4u;

var<workgroup> a_tile: array<array<f32, TILE_K>, TILE_MN>; // [m][k]
var<workgroup> b_tile: array<array<f32, TILE_MN>, TILE_K>; // [k][n]

@compute @workgroup_size(16, 16, 1)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let batch = wg.z;
    let row0 = wg.y * TILE_MN;
    let col0 = wg.x * TILE_MN;
    let a_base = batch * p.a_batch_stride;
    let b_base = batch * p.b_batch_stride;

    var acc: array<array<f32, PER_THREAD>, PER_THREAD>;
    for (var k0 = 0u; k0 < p.k; k0 += TILE_K) {
        // 1024 elements of each tile, four per thread; out-of-range elements load as zero.
        for (var r = 0u; r < PER_THREAD; r++) {
            let e = li + r * THREADS;
            let am = e / TILE_K;
            let ak = e % TILE_K;
            var av = 0.0;
            if (row0 + am < p.m && k0 + ak < p.k) {
                av = a[a_base + (row0 + am) * p.k + k0 + ak];
            }
            a_tile[am][ak] = av;

            var bk: u32;
            var bn: u32;
            if (p.b_transposed == 1u) {
                bn = e / TILE_K; // consecutive threads walk along K, contiguous in memory
                bk = e % TILE_K;
            } else {
                bk = e / TILE_MN;
                bn = e % TILE_MN;
            }
            var bv = 0.0;
            if (col0 + bn < p.n && k0 + bk < p.k) {
                if (p.b_transposed == 1u) {
                    bv = b[b_base + (col0 + bn) * p.k + k0 + bk];
                } else {
                    bv = b[b_base + (k0 + bk) * p.n + col0 + bn];
                }
            }
            b_tile[bk][bn] = bv;
        }
        workgroupBarrier();

        for (var k = 0u; k < TILE_K; k++) {
            var b_row: array<f32, PER_THREAD>;
            for (var j = 0u; j < PER_THREAD; j++) {
                b_row[j] = b_tile[k][lid.x + j * 16u];
            }
            for (var i = 0u; i < PER_THREAD; i++) {
                let av = a_tile[lid.y + i * 16u][k];
                for (var j = 0u; j < PER_THREAD; j++) {
                    acc[i][j] = fma(av, b_row[j], acc[i][j]);
                }
            }
        }
        workgroupBarrier();
    }

    for (var i = 0u; i < PER_THREAD; i++) {
        let row = row0 + lid.y + i * 16u;
        for (var j = 0u; j < PER_THREAD; j++) {
            let col = col0 + lid.x + j * 16u;
            if (row < p.m && col < p.n) {
                var v = acc[i][j];
                if (p.has_bias == 1u) {
                    v += bias[col];
                }
                c[(batch * p.m + row) * p.n + col] = v;
            }
        }
    }
}
