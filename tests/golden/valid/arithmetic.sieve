# Arithmetic on variables: precedence (`*` `/` before `+` `-`, ranges loosest),
# parentheses, left associativity, unary minus (repeated too), `/` giving a float,
# string and list concatenation, ranges with computed bounds.
pipeline arithmetic {
  let seed     = 10
  let base     = 1_000
  let prec     = 1 + 2 * 3            # 7
  let grouped  = (1 + 2) * 3          # 9
  let left     = 100 - 10 - 1         # 89, not 91
  let ratio    = 7 / 2                # 3.5: `/` is float division
  let neg      = -seed                # -10
  let negneg   = --seed               # 10
  let negsum   = -(seed - 15) * 2     # 10
  let mixed    = base * 2 + seed / 4  # 2002.5
  let lr       = 3e-4 * 2             # 6e-4
  let name     = "run_" + "a"
  let opsets   = [2, 3] + [5]
  let window   = seed..seed + 3       # 10..13
  let span     = -2..(2 * 3)          # -2..6

  stage pool  = synth.igsm(n = base * 4 / 2, ops = 2..2 + prec, seed = seed * 3 - 1)
  stage arith = synth.arith(n = (base + 24) * 2, digits = opsets, seed = -(-seed))
  stage init  = model.init(arch = "nano", layers = 2 * (1 + 1), heads = 8 / 2)
  stage tuned = sft(init, pool, lr = lr, steps = base / 10, warmup_ratio = 1 / 40)
}
