from entropykit_driving_tta_app.app import main

main()
