# fault: a value outside the parameter's choices
pipeline p {
  stage i = model.init(arch = "nano")
  stage d = synth.arith(n = 10)
  stage t = sft(i, d, schedule = sawtooth)
}
