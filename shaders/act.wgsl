// The activation functions, shared by the activation kernel and the matmul epilogue; `kernel!`
// puts this file in front of theirs.

const FRAC_1_SQRT_2: f32 = 0.70710678;
const SQRT_2_OVER_PI: f32 = 0.79788456;
const FRAC_1_SQRT_2PI: f32 = 0.39894228;

// exp of -|v| only: it never overflows, and e / (1 + e) keeps full relative precision far into
// the negative tail, where 1 - 1 / (1 + exp(-v)) would cancel to zero.
fn sigmoid(v: f32) -> f32 {
    let e = exp(-abs(v));
    let s = 1.0 / (1.0 + e);
    return select(e * s, s, v >= 0.0);
}

// The built-in tanh gives NaN for large |v| on some GPUs (exp(2v) overflows to inf / inf);
// exp(-2|v|) lies in (0, 1] for every v.
fn tanh_safe(v: f32) -> f32 {
    let e = exp(-2.0 * abs(v));
    return sign(v) * (1.0 - e) / (1.0 + e);
}

// erfc(z) for z >= 0 by the Chebyshev fit of Numerical Recipes (erfcc, Press et al., 2nd ed.,
// section 6.2): relative error below 1.2e-7 for every z >= 0, so erf = 1 - erfc is within 1.2e-7
// absolutely and erfc itself stays accurate in the far tail.
fn erfc_nonneg(z: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
        + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
        + t * (-0.82215223 + t * 0.17087277))))))));
    return t * exp(poly - z * z);
}

// 0.5 x (1 + erf(x / sqrt 2)); for x < 0 the bracket is erfc(|x| / sqrt 2), taken directly
// instead of as 1 - erf, which would cancel.
fn gelu(v: f32) -> f32 {
    let q = erfc_nonneg(abs(v) * FRAC_1_SQRT_2);
    return 0.5 * v * select(q, 2.0 - q, v >= 0.0);
}

// 0.5 x (1 + tanh(u)) written as x sigmoid(2u): the same value, without the cancellation of
// 1 + tanh(u) for negative u.
fn gelu_tanh(v: f32) -> f32 {
    let u = SQRT_2_OVER_PI * (v + 0.044715 * v * v * v);
    return v * sigmoid(2.0 * u);
}

// f(v) for op 0 ReLU, 1 LeakyReLU(alpha), 2 GELU (erf), 3 GELU (tanh approximation), 4 SiLU,
// 5 tanh, 6 sigmoid. Comparisons with v < 0 let NaN through, as PyTorch does.
fn activate(op: u32, alpha: f32, v: f32) -> f32 {
    switch op {
        case 0u: { return select(v, 0.0, v < 0.0); }
        case 1u: { return select(v, alpha * v, v < 0.0); }
        case 2u: { return gelu(v); }
        case 3u: { return gelu_tanh(v); }
        case 4u: { return v * sigmoid(v); }
        case 5u: { return tanh_safe(v); }
        default: { return sigmoid(v); }
    }
}

// The derivative f'(v) of activate(op, alpha, v), for the backward pass. At 0, ReLU's is 0 and
// LeakyReLU's alpha, as PyTorch takes them.
fn activate_grad(op: u32, alpha: f32, v: f32) -> f32 {
    switch op {
        case 0u: { return select(1.0, 0.0, v <= 0.0); }
        case 1u: { return select(alpha, 1.0, v > 0.0); }
        case 2u: {
            // Phi(v) + v phi(v).
            let q = erfc_nonneg(abs(v) * FRAC_1_SQRT_2);
            let cdf = 0.5 * select(q, 2.0 - q, v >= 0.0);
            return cdf + v * exp(-0.5 * v * v) * FRAC_1_SQRT_2PI;
        }
        case 3u: {
            // d/dv [v s(2u)] = s + 2 v s (1 - s) u'.
            let u = SQRT_2_OVER_PI * (v + 0.044715 * v * v * v);
            let s = sigmoid(2.0 * u);
            let du = SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * v * v);
            return s + 2.0 * v * s * (1.0 - s) * du;
        }
        case 4u: {
            let s = sigmoid(v);
            return s * (1.0 + v * (1.0 - s));
        }
        case 5u: {
            let t = tanh_safe(v);
            return 1.0 - t * t;
        }
        default: {
            let s = sigmoid(v);
            return s * (1.0 - s);
        }
    }
}
