# fault: `pipeline` without a name
pipeline {
  stage a = synth.arith(n = 10)
}
