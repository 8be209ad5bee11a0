print("mtrnn-watch")
