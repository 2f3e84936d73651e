// The block of output channels a thread of conv.wgsl computes, for layers of fewer than 4
// channels: one.
const CO_BLOCK: u32 = 1u;
alias Block = f32;
alias Offsets = u32;

fn offsets(first: u32, stride: u32) -> Offsets {
    return first * stride;
}

fn weights(at: Offsets, i: u32) -> Block {
    return w[at + i];
}

fn lane(block: Block, r: u32) -> f32 {
    return block;
}
