# fault: an import of an endless device
import "/dev/zero"
pipeline p {
  stage a = synth.arith(n = 10)
}
