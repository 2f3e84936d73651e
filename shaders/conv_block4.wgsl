// The block of output channels a thread of conv.wgsl computes, for layers of 4 channels or
// more: 4, as a vector (private arrays of 4 were slower on SwiftShader). Channels past the last
// read the last one's weights (in bounds) and are never written.
const CO_BLOCK: u32 = 4u;
alias Block = vec4<f32>;
alias Offsets = vec4<u32>;

// Where the weights of channels first..first + 3 start, `stride` apart.
fn offsets(first: u32, stride: u32) -> Offsets {
    return min(vec4(first) + vec4(0u, 1u, 2u, 3u), vec4(p.out_channels - 1u)) * stride;
}

fn weights(at: Offsets, i: u32) -> Block {
    return vec4(w[at.x + i], w[at.y + i], w[at.z + i], w[at.w + i]);
}

fn lane(block: Block, r: u32) -> f32 {
    return block[r];
}
