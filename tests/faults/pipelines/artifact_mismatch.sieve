# fault: a dataset where a model is expected
pipeline p {
  stage d = synth.arith(n = 10)
  stage t = sft(d, d)
}
