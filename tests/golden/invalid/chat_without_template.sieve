# `chat = true` wraps prompts in the model's chat template; a model made with the
# built-in `chars` tokenizer (and every model fine-tuned from it) has none, so the stage
# could only fail once it runs.
pipeline chat_without_template {
  stage data  = synth.arith(n = 100)
  stage init  = model.init(arch = "nano", tokenizer = chars)
  stage tuned = sft(init, data, steps = 10)
  stage acc   = evaluate(tuned, data, chat = true)
  stage plain = evaluate(tuned, data, chat = false)
}
