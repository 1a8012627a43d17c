# A sweep over several variables is their cartesian product (2 × 2 × 2 = 8 cells);
# instance names list the variables in declaration order. Sweep lists may be ranges,
# computed lists, strings and bools.
pipeline sweep_multi {
  let ops_max = 4
  stage init = model.init(arch = "nano")
  stage test = synth.igsm(n = 100, seed = 99)

  sweep ops in 3..ops_max, style in ["text", "com" + "pact"], pack in [true, false] {
    stage data  = synth.igsm(n = 500, ops = ops, style = style)
    stage tuned = sft(init, data, packing = pack)
  }
}
