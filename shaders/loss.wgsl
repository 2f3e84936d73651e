// Binary cross-entropy with logits, as F.binary_cross_entropy_with_logits: for logit l and
// target t, the loss term max(l, 0) - l t + log(1 + exp(-|l|)) (never overflowing), scaled by
// p.scale (1 / len for the mean, 1 for the sum). One 64-thread workgroup walks all p.len terms:
//   grad[i] = p.scale * (sigmoid(l) - t), the loss's gradient with respect to the logit;
//   out[0] = the loss; out[1] = the mean of sigmoid(l) (a discriminator's mean "real" probability).

struct Params {
    len: u32,
    scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(REDUCE_THREADS)
fn bce_with_logits(@builtin(local_invocation_index) li: u32) {
    var loss = 0.0;
    var probability = 0.0;
    for (var i = li; i < p.len; i += REDUCE_THREADS) {
        let l = logits[i];
        let t = targets[i];
        loss += max(l, 0.0) - l * t + log(1.0 + exp(-abs(l)));
        let s = sigmoid(l);
        probability += s;
        grad[i] = p.scale * (s - t);
    }
    let total = workgroup_reduce(li, loss, false);
    let probabilities = workgroup_reduce(li, probability, false);
    if (li == 0u) {
        out[0] = p.scale * total;
        out[1] = probabilities / f32(p.len);
    }
}
