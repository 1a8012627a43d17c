# fault: `stage =` without a name
pipeline p {
  stage = synth.arith(n = 10)
}
