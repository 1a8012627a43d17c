# fault: an import that leads out of the project folder
import "../outside.sieve"
pipeline p {
  stage a = synth.arith(n = 10)
}
