# fault: more inputs than the kind takes
pipeline p {
  stage i = model.init(arch = "nano")
  stage d = synth.arith(n = 10)
  stage e = evaluate(i, d, d)
}
