# fault: a float literal beyond f64
pipeline p {
  stage i = model.init(arch = "nano")
  stage d = synth.arith(n = 10)
  stage t = sft(i, d, lr = 1e999)
}
