# fault: a report axis that is not a variable of the reported stages
pipeline p {
  stage d = synth.arith(n = 10)
  stage i = model.init(arch = "nano")
  sweep b in [1, 2] {
    stage t = sft(i, d, steps = b)
    stage e = evaluate(t, d)
  }
  stage r = report(e, kind = line, x = budget)
}
