// Output channels per thread of conv.wgsl's kernels, for layers of fewer than 4 channels.
const CO_BLOCK: u32 = 1u;
