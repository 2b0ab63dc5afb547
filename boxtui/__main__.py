from boxtui.cli import main

raise SystemExit(main())
