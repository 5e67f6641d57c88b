"""The demo-model pipeline: phantoms -> train -> choose -> finalize -> fine-tune -> calibrate.

``python -m research.demo_model {train,finetune,calibrate,tiny} --help``. Each command is a
plain function over the library (``ichmodel.train``, ``ichmodel.predict``); this package only
decides which phantoms, which settings and what the model card says. ``tiny`` runs the whole
chain at toy size in seconds (``make research-demo-tiny``, tests/model/test_research_demo.py).
"""
