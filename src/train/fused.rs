//! libtorch's fused AdamW kernel (`at::_fused_adamw_`, what `torch.optim.AdamW(fused=True)`
//! runs), which tch does not wrap: found at run time in the already loaded libtorch with
//! `dlsym` and called through the C++ ABI of its dispatcher entry point
//! `at::_ops::_fused_adamw_::call`.
//!
//! Invariants: the ABI is that of x86-64 / AArch64 Itanium C++ — `c10::ArrayRef<Tensor>`
//! is `{const Tensor*, size_t}` passed by value, an `at::Tensor` is one pointer to its
//! `TensorImpl` (which is what a tch tensor handle points to), `const
//! std::optional<Tensor>&` is a pointer to `{Tensor, bool}`; a C++ exception cannot
//! cross into Rust, so [`fused_adamw`] checks every precondition the kernel checks
//! (equal list lengths, one device, f32 everywhere, dense contiguous tensors) before
//! calling it and reports `false` instead when it cannot be used. Set
//! `SIEVE_FUSED_ADAMW=0` to never use it.

use std::ffi::{CStr, c_char, c_void};
use std::sync::OnceLock;
use tch::{Kind, Tensor};

#[repr(C)]
#[derive(Clone, Copy)]
struct TensorList {
    data: *const *mut c_void,
    len: usize,
}

#[repr(C)]
struct OptionalTensor {
    value: *mut c_void,
    engaged: bool,
}

type FusedAdamWFn = unsafe extern "C" fn(
    TensorList,
    TensorList,
    TensorList,
    TensorList,
    TensorList,
    TensorList,
    f64,
    f64,
    f64,
    f64,
    f64,
    bool,
    bool,
    *const OptionalTensor,
    *const OptionalTensor,
);

/// `at::_ops::_fused_adamw_::call(TensorList self, grads, exp_avgs, exp_avg_sqs,
/// max_exp_avg_sqs, state_steps, double lr, beta1, beta2, weight_decay, eps, bool amsgrad,
/// maximize, const optional<Tensor>& grad_scale, found_inf)`.
const SYMBOL: &CStr =
    c"_ZN2at4_ops13_fused_adamw_4callEN3c108ArrayRefINS_6TensorEEES5_S5_S5_S5_S5_dddddbbRKSt8optionalIS4_ES9_";

unsafe extern "C" {
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
}

fn lookup() -> Option<FusedAdamWFn> {
    static F: OnceLock<Option<FusedAdamWFn>> = OnceLock::new();
    *F.get_or_init(|| {
        if std::env::var("SIEVE_FUSED_ADAMW").is_ok_and(|v| v == "0") {
            return None;
        }
        // SAFETY: RTLD_DEFAULT (null) search of a NUL-terminated name; libtorch_cpu is a
        // load-time dependency of every binary linking tch.
        let p = unsafe { dlsym(std::ptr::null_mut(), SYMBOL.as_ptr()) };
        // SAFETY: the symbol is the function whose signature FusedAdamWFn spells out.
        (!p.is_null()).then(|| unsafe { std::mem::transmute::<*mut c_void, FusedAdamWFn>(p) })
    })
}

/// Whether the fused kernel is available (and not disabled).
pub fn available() -> bool {
    lookup().is_some()
}

/// The `at::Tensor` value (its `TensorImpl` pointer) behind a tch handle.
fn raw(t: &Tensor) -> *mut c_void {
    // SAFETY: a tch `Tensor` wraps a pointer to a heap `at::Tensor`, whose only field is
    // the intrusive pointer to its TensorImpl.
    unsafe { *(t.as_ptr() as *const *mut c_void) }
}

/// One AdamW update of `params` in place (all f32, dense, contiguous, on one device),
/// with `grads`, first/second moments `m`/`v` and per-parameter step counts `steps`
/// (f32 scalars, already incremented for this update). Gradients are divided by
/// `grad_scale` first when given. Returns `false` (and changes nothing) when the kernel is
/// unavailable or a precondition does not hold.
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
) -> bool {
    let Some(f) = lookup() else { return false };
    let n = params.len();
    if n == 0 || grads.len() != n || m.len() != n || v.len() != n || steps.len() != n {
        return false;
    }
    let dev = params[0].device();
    let dense = |t: &Tensor, shape: &[i64]| {
        t.defined() && t.kind() == Kind::Float && t.device() == dev && t.is_contiguous() && t.size() == shape
    };
    let step_ok = |t: &Tensor| t.defined() && t.kind() == Kind::Float && t.device() == dev;
    for i in 0..n {
        let shape = params[i].size();
        let ok = [&params[i], &grads[i], &m[i], &v[i]]
            .iter()
            .all(|t| dense(t, &shape))
            && step_ok(&steps[i]);
        if !ok {
            return false;
        }
    }
    if let Some(s) = grad_scale
        && !(s.defined() && s.kind() == Kind::Float && s.device() == dev && s.numel() == 1)
    {
        return false;
    }
    let list = |ts: &[Tensor]| ts.iter().map(raw).collect::<Vec<_>>();
    let (p, g, a, b, s) = (list(params), list(grads), list(m), list(v), list(steps));
    let tl = |x: &Vec<*mut c_void>| TensorList {
        data: x.as_ptr(),
        len: x.len(),
    };
    let empty = TensorList {
        data: std::ptr::NonNull::dangling().as_ptr(),
        len: 0,
    };
    let scale = OptionalTensor {
        value: grad_scale.map(raw).unwrap_or(std::ptr::null_mut()),
        engaged: grad_scale.is_some(),
    };
    let none = OptionalTensor {
        value: std::ptr::null_mut(),
        engaged: false,
    };
    // SAFETY: every list holds live at::Tensor values that outlive the call; the
    // preconditions the kernel would throw on were checked above.
    unsafe {
        f(
            tl(&p),
            tl(&g),
            tl(&a),
            tl(&b),
            empty,
            tl(&s),
            lr,
            beta1,
            beta2,
            weight_decay,
            eps,
            false,
            false,
            &scale,
            &none,
        );
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn matches_the_adamw_formula() {
        if !available() {
            eprintln!("note: fused AdamW not found in libtorch; skipping");
            return;
        }
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
        let ok = fused_adamw(
            std::slice::from_ref(&p),
            std::slice::from_ref(&g_in),
            std::slice::from_ref(&m),
            std::slice::from_ref(&v),
            std::slice::from_ref(&step),
            0.01,
            (0.9, 0.999),
            0.1,
            1e-8,
            Some(&scale),
        );
        assert!(ok);
        let gg = &g / 4.0;
        let m2 = &gg * 0.1;
        let v2 = gg.square() * 0.001;
        let expect = &p0 * (1.0 - 0.01 * 0.1) - (&m2 / 0.1) / ((&v2 / 0.001).sqrt() + 1e-8) * 0.01;
        let d = (&p - expect).abs().max().double_value(&[]);
        assert!(d < 1e-6, "{d}");
        let dm = (&m - m2).abs().max().double_value(&[]);
        assert!(dm < 1e-7, "{dm}");
        // Preconditions are checked instead of letting libtorch throw.
        let half = Tensor::zeros([1000], (Kind::BFloat16, Device::Cpu));
        let s = std::slice::from_ref(&step);
        assert!(!fused_adamw(
            std::slice::from_ref(&half),
            std::slice::from_ref(&g),
            std::slice::from_ref(&m),
            std::slice::from_ref(&v),
            s,
            0.01,
            (0.9, 0.999),
            0.0,
            1e-8,
            None
        ));
        assert!(!fused_adamw(
            &[],
            &[],
            &[],
            &[],
            &[],
            0.01,
            (0.9, 0.999),
            0.0,
            1e-8,
            None
        ));
    }
}
