raise ImportError("torch is blocked: device-side code must not import it")
