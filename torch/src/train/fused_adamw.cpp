// libtorch's fused AdamW kernel (`at::_fused_adamw_`, what
// `torch.optim.AdamW(fused=True)` runs) behind a C function, for src/train/fused.rs.
// tch does not wrap this operator; build.rs compiles this file with the headers of the
// libtorch that torch-sys builds against, so the call goes through the real C++ API.
//
// Invariants: no C++ exception leaves this file — every one (a failed check of the
// kernel, a CUDA launch error, out of memory) is caught and becomes a non-zero return
// with its message in `err`; tensors arrive as tch handles (`at::Tensor*`, what tch's
// `tensor` type is) and are only borrowed.

#include <ATen/core/Tensor.h>
#include <ATen/ops/_fused_adamw.h>

#include <cstddef>
#include <cstring>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// A list of tensors as the C side passes it: `len` tch handles.
struct TensorList {
  const at::Tensor *const *data;
  size_t len;
};

std::vector<at::Tensor> to_vector(TensorList list, const char *name) {
  if (list.len > 0 && list.data == nullptr) {
    throw std::invalid_argument(std::string(name) + ": null list");
  }
  std::vector<at::Tensor> out;
  out.reserve(list.len);
  for (size_t i = 0; i < list.len; ++i) {
    const at::Tensor *t = list.data[i];
    if (t == nullptr || !t->defined()) {
      throw std::invalid_argument(std::string(name) + "[" + std::to_string(i) +
                                  "] is not a defined tensor");
    }
    out.push_back(*t);
  }
  return out;
}

void copy_message(const char *msg, char *err, size_t err_len) {
  if (err == nullptr || err_len == 0) {
    return;
  }
  std::strncpy(err, msg, err_len - 1);
  err[err_len - 1] = '\0';
}

}  // namespace

// One AdamW update in place (amsgrad and maximize off); gradients are divided by
// `grad_scale` first when it is not null. Returns 0 on success; otherwise 1 and the
// exception's message (truncated to `err_len - 1` bytes) in `err`.
extern "C" int sieve_fused_adamw(TensorList params, TensorList grads, TensorList exp_avgs,
                                 TensorList exp_avg_sqs, TensorList state_steps, double lr,
                                 double beta1, double beta2, double weight_decay, double eps,
                                 const at::Tensor *grad_scale, char *err, size_t err_len) {
  try {
    std::vector<at::Tensor> p = to_vector(params, "params");
    std::vector<at::Tensor> g = to_vector(grads, "grads");
    std::vector<at::Tensor> m = to_vector(exp_avgs, "exp_avgs");
    std::vector<at::Tensor> v = to_vector(exp_avg_sqs, "exp_avg_sqs");
    std::vector<at::Tensor> s = to_vector(state_steps, "state_steps");
    std::optional<at::Tensor> scale;
    if (grad_scale != nullptr) {
      scale = *grad_scale;
    }
    at::_fused_adamw_(p, g, m, v, /*max_exp_avg_sqs=*/{}, s, lr, beta1, beta2, weight_decay,
                      eps, /*amsgrad=*/false, /*maximize=*/false, scale, /*found_inf=*/{});
    return 0;
  } catch (const std::exception &e) {
    // c10::Error is one; it is not named here because its type information would make
    // the `sieve` binary, which links this object but never calls it, need libc10.so.
    // Its `what()` may end with a C++ backtrace, which the Rust side cuts off.
    copy_message(e.what(), err, err_len);
  } catch (...) {
    copy_message("unknown C++ exception", err, err_len);
  }
  return 1;
}
