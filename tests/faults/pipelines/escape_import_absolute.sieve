# fault: an import of a system file
import "/etc/passwd"
pipeline p {
  stage a = synth.arith(n = 10)
}
