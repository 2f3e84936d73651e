// Workgroup reductions shared by the row kernels (norm, softmax, attention); `kernel!` puts this
// file in front of theirs. A kernel that uses it runs REDUCE_THREADS threads per workgroup.

const REDUCE_THREADS: u32 = 64u;

var<workgroup> reduce_scratch: array<f32, REDUCE_THREADS>;

// The maximum (take_max) or the sum of every thread's `v`, returned to all of them as a uniform
// value. Call from uniform control flow, with the local invocation index.
fn workgroup_reduce(li: u32, v: f32, take_max: bool) -> f32 {
    reduce_scratch[li] = v;
    workgroupBarrier();
    for (var stride = REDUCE_THREADS / 2u; stride > 0u; stride /= 2u) {
        if (li < stride) {
            let a = reduce_scratch[li];
            let b = reduce_scratch[li + stride];
            reduce_scratch[li] = select(a + b, max(a, b), take_max);
        }
        workgroupBarrier();
    }
    // The load waits at a barrier too, so the next reduction cannot overwrite the result early.
    return workgroupUniformLoad(&reduce_scratch[0]);
}

