# fault: relative_to = baseline without a baseline input
pipeline p {
  stage d = synth.arith(n = 10)
  stage i = model.init(arch = "nano")
  sweep b in [1, 2] {
    stage t = sft(i, d, steps = b)
    stage e = evaluate(t, d)
  }
  stage r = report(e, kind = line, x = b, relative_to = baseline)
}
