// The rows of matmul_tiled.wgsl's tile: 128, for matrices of more than 64 rows.

const TILE_M: u32 = 128u;
