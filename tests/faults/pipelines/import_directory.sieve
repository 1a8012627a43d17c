# fault: an import of a folder
import "lib"
pipeline p {
  stage a = synth.arith(n = 10)
}
