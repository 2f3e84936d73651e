// The rows of matmul_tiled.wgsl's tile: 64, for matrices of 9 to 64 rows (a short prompt, a
// batch of 64), which a 128-row tile would half pad.

const TILE_M: u32 = 64u;
