from entropykit_llm_uq_app.app import main

main()
