# Nested sweeps: the inner sweep multiplies the cells of the outer one. Stages of the
# outer body exist once per outer cell; inner stages consume the outer stage of their
# own outer cell, and the inner sweep's list is computed from the outer variable.
pipeline sweep_nested {
  stage init = model.init(arch = "nano")
  stage test = synth.arith(n = 100, digits = 1..4, seed = 5)

  sweep digits in [2, 4] {
    stage data = synth.arith(n = 1_000, digits = 1..digits)
    sweep steps in [digits * 100, digits * 200] {
      stage tuned = sft(init, data, steps = steps)
      sweep temp in [0.0, 0.7] {
        stage acc = evaluate(tuned, test, temperature = temp, max_new_tokens = digits * 8)
      }
    }
  }
}
