# Sweep-local `let`s are evaluated once per cell, in order, and may use the sweep
# variables, earlier sweep lets and globals; a nested sweep sees its parent's lets.
pipeline sweep_local_let {
  let seed  = 3
  let scale = 4
  stage pool   = synth.igsm(n = 10_000, ops = 2..8)
  stage scored = score(pool, by = column("ops"), bands = 3)
  stage init   = model.init(arch = "nano")

  sweep budget in [128, 512] {
    let steps = budget / 16 * scale     # float arithmetic, integral: accepted as an int
    let warm  = 1 / steps
    let label = "b" + "_small"
    stage subset = select(scored, budget = budget, bands = 0, strategy = stratified, stratify_by = label)
    sweep mult in [1, 2] {
      let total = steps * mult
      stage tuned = sft(init, subset, steps = total, warmup_ratio = warm, seed = seed + mult)
    }
  }
}
