from entropykit_repr_entropy_app.app import main

main()
