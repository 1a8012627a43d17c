//! libtorch's fused AdamW kernel (`at::_fused_adamw_`, what `torch.optim.AdamW(fused=True)`
//! runs), which tch does not wrap. `fused_adamw.cpp` beside this file calls it through
//! libtorch's C++ API; `build.rs` compiles it against the headers of the libtorch that
//! torch-sys links, so the kernel is always present.
//!
//! Invariants: the C++ side catches every exception (a failed check of the kernel, a
//! CUDA launch error, out of memory) and returns it as an error code and message, which
//! [`fused_adamw`] turns into an `Err` — nothing unwinds across the boundary; tensors
//! cross it as tch handles (pointers to `at::Tensor`), borrowed for the call only.

use crate::model::ModelError;
use std::ffi::{c_char, c_int};
use tch::Tensor;

/// A list of tensors as `fused_adamw.cpp` takes it: `len` tch handles.
#[repr(C)]
struct TensorList {
    data: *const *const torch_sys::C_tensor,
    len: usize,
}

unsafe extern "C" {
    /// `fused_adamw.cpp`: one update in place; 0, or 1 with a message in `err`.
    fn sieve_fused_adamw(
        params: TensorList,
        grads: TensorList,
        exp_avgs: TensorList,
        exp_avg_sqs: TensorList,
        state_steps: TensorList,
        lr: f64,
        beta1: f64,
        beta2: f64,
        weight_decay: f64,
        eps: f64,
        grad_scale: *const torch_sys::C_tensor,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
}

/// One AdamW update of `params` in place with `grads`, first/second moments `m`/`v` and
/// per-parameter step counts `steps` (scalars, already incremented for this update).
/// Gradients are divided by `grad_scale` first when given. libtorch's own checks apply
/// (equal list lengths, one device, matching dtypes and shapes); a failed one, or any
/// other libtorch error, is returned as [`ModelError::Torch`] and no tensor is changed
/// by a failed check.
#[allow(clippy::too_many_arguments)]
pub fn fused_adamw(
    params: &[Tensor],
    grads: &[Tensor],
    m: &[Tensor],
    v: &[Tensor],
    steps: &[Tensor],
    lr: f64,
    (beta1, beta2): (f64, f64),
    weight_decay: f64,
    eps: f64,
    grad_scale: Option<&Tensor>,
) -> Result<(), ModelError> {
    let handles = |ts: &[Tensor]| ts.iter().map(Tensor::as_ptr).collect::<Vec<_>>();
    let (p, g, a, b, s) = (
        handles(params),
        handles(grads),
        handles(m),
        handles(v),
        handles(steps),
    );
    let list = |x: &Vec<*const torch_sys::C_tensor>| TensorList {
        data: x.as_ptr(),
        len: x.len(),
    };
    let scale = grad_scale.map_or(std::ptr::null(), |t| t.as_ptr());
    let mut err = [0 as c_char; 1024];
    // SAFETY: every handle points to a live `at::Tensor` owned by a `Tensor` borrowed
    // for the whole call, and each list's length is that of its vector, which outlives
    // the call; `err` is writable for `err.len()` bytes. The C++ side catches every
    // exception, so nothing unwinds into Rust.
    let rc = unsafe {
        sieve_fused_adamw(
            list(&p),
            list(&g),
            list(&a),
            list(&b),
            list(&s),
            lr,
            beta1,
            beta2,
            weight_decay,
            eps,
            scale,
            err.as_mut_ptr(),
            err.len(),
        )
    };
    if rc == 0 {
        return Ok(());
    }
    // SAFETY: the C++ side wrote a NUL-terminated message into `err` (the buffer ends
    // with the NUL it was initialised with in any case).
    let msg = unsafe { std::ffi::CStr::from_ptr(err.as_ptr()) };
    Err(ModelError::Torch(format!(
        "fused AdamW update: {}",
        crate::model::torch_message(&msg.to_string_lossy())
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn one(t: &Tensor) -> &[Tensor] {
        std::slice::from_ref(t)
    }

    #[test]
    fn matches_the_adamw_formula() {
        let opts = (Kind::Float, Device::Cpu);
        let p0 = Tensor::randn([1000], opts);
        let g = Tensor::randn([1000], opts);
        let (p, m, v) = (
            p0.copy(),
            Tensor::zeros([1000], opts),
            Tensor::zeros([1000], opts),
        );
        let step = Tensor::ones([], opts);
        let scale = Tensor::from(4f32);
        // (The kernel may write the unscaled gradient back into its input.)
        let g_in = g.copy();
        fused_adamw(
            one(&p),
            one(&g_in),
            one(&m),
            one(&v),
            one(&step),
            0.01,
            (0.9, 0.999),
            0.1,
            1e-8,
            Some(&scale),
        )
        .unwrap();
        let gg = &g / 4.0;
        let m2 = &gg * 0.1;
        let v2 = gg.square() * 0.001;
        let expect = &p0 * (1.0 - 0.01 * 0.1) - (&m2 / 0.1) / ((&v2 / 0.001).sqrt() + 1e-8) * 0.01;
        let d = (&p - expect).abs().max().double_value(&[]);
        assert!(d < 1e-6, "{d}");
        let dm = (&m - m2).abs().max().double_value(&[]);
        assert!(dm < 1e-7, "{dm}");
    }

    /// libtorch's checks throw C++ exceptions; they come back as errors with libtorch's
    /// message, and the process carries on (no abort, no unwinding through Rust).
    #[test]
    fn libtorch_errors_become_errors() {
        let opts = (Kind::Float, Device::Cpu);
        let (p, g, m, v) = (
            Tensor::zeros([10], opts),
            Tensor::ones([10], opts),
            Tensor::zeros([10], opts),
            Tensor::zeros([10], opts),
        );
        let step = Tensor::ones([], opts);
        let update = |params: &[Tensor], grads: &[Tensor], steps: &[Tensor]| {
            fused_adamw(
                params,
                grads,
                one(&m),
                one(&v),
                steps,
                0.01,
                (0.9, 0.999),
                0.0,
                1e-8,
                None,
            )
        };
        // Lists of different lengths.
        let two = [g.shallow_clone(), g.shallow_clone()];
        let e = update(one(&p), &two, one(&step)).unwrap_err().to_string();
        assert!(e.starts_with("libtorch: fused AdamW update: "), "{e}");
        assert!(e.contains("grads.size()"), "{e}");
        // A gradient of another dtype than its parameter.
        let half = Tensor::ones([10], (Kind::BFloat16, Device::Cpu));
        let e = update(one(&p), one(&half), one(&step)).unwrap_err().to_string();
        assert!(e.contains("expected scalar type Float but found BFloat16"), "{e}");
        // An undefined tensor is refused before libtorch sees it.
        let undefined = Tensor::new();
        let e = update(one(&p), one(&undefined), one(&step))
            .unwrap_err()
            .to_string();
        assert!(e.contains("grads[0] is not a defined tensor"), "{e}");
        // Nothing was changed by the refused updates, and a valid one still works.
        assert_eq!(p.abs().sum(Kind::Float).double_value(&[]), 0.0);
        update(one(&p), one(&g), one(&step)).unwrap();
        assert!(p.abs().sum(Kind::Float).double_value(&[]) > 0.0);
    }
}
