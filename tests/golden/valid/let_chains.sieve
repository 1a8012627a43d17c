# `let` chains: each variable may use the ones defined before it, and stages use the
# end of the chain. Variables are evaluated in order.
pipeline let_chains {
  let rows      = 512
  let train_n   = rows * 8
  let test_n    = train_n / 16
  let max_ops   = 4
  let train_ops = 2..max_ops
  let test_ops  = max_ops + 1..max_ops * 2
  let peak      = 2e-3
  let floor     = peak / 20
  let ratio     = floor / peak
  let arch      = "tiny"
  let tok       = "chars"

  stage train = synth.igsm(n = train_n, ops = train_ops)
  stage test  = synth.igsm(n = test_n, ops = test_ops, seed = 1)
  stage init  = model.init(arch = arch, tokenizer = tok)
  stage tuned = sft(init, train, lr = peak, min_lr_ratio = ratio)
  stage acc   = evaluate(tuned, test, slice_by = "ops")
}
