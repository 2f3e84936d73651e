// Output channels per thread of conv.wgsl's kernels, for layers of 4 channels or more.
const CO_BLOCK: u32 = 4u;
