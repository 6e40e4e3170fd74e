"""The Streamlit app over the mnist_cnn core: the pages (app/pages/, routed by streamlit_app.py) and what they
share, one module a job."""
